# frozen_string_literal: true

module Appsignal
  module CLI
    # Questions on stdin for the interactive installer. End of input (a closed or
    # empty stdin) takes the default rather than looping forever.
    class Prompt
      def initialize(io)
        @io = io
      end

      def ask(question, default: nil)
        loop do
          @io.stdout.print(default ? "#{question} [#{default}]: " : "#{question}: ")
          answer = read_line
          return default.to_s if answer.nil? && default
          return nil if answer.nil?
          return answer unless answer.empty?
          return default.to_s if default
        end
      end

      def yes?(question, default:)
        loop do
          @io.stdout.print("#{question} (#{default ? "Y/n" : "y/N"}): ")
          answer = read_line
          return default if answer.nil? || answer.empty?
          return true if %w[y yes].include?(answer.downcase)
          return false if %w[n no].include?(answer.downcase)

          @io.stdout.puts "  Please answer y or n."
        end
      end

      # choices: { "1" => [:value, "label"], ... }
      def choose(question, choices, default:)
        choices.each { |number, (_, label)| @io.stdout.puts "  (#{number}) #{label}" }
        loop do
          answer = ask(question, default: default)
          return choices.fetch(default).first if answer.nil?
          return choices[answer].first if choices.key?(answer)

          @io.stdout.puts "  Please choose one of #{choices.keys.join(", ")}."
        end
      end

      private

      def read_line
        line = @io.stdin.gets
        line&.strip
      end
    end
  end
end
