# frozen_string_literal: true

module Appsignal
  # Stands in for the native extension when it could not be built or loaded, with
  # the same methods, so every code path works and reports nothing.
  module Extension
    class << self
      def start(*) = false
      def stop(*) = nil
      def flush(*) = nil
      def active? = false
      def disabled? = true
      def stats = {}
      def agent_version = nil
      def obfuscate_sql(*) = "?"
      def log(*) = nil
      def add_metric(*) = false
      def trigger_panic_for_tests = false
    end

    class Transaction
      def initialize(_namespace); end

      def method_missing(_name, *_args) = nil

      def respond_to_missing?(_name, _private = false) = true

      def complete = false
      def could_be_sampled? = false

      def id = ""
    end
  end
end
