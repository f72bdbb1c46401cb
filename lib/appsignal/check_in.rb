# frozen_string_literal: true

require "securerandom"
require "appsignal/check_in/scheduler"

module Appsignal
  # Check-ins tell AppSignal that a scheduled task ran: `Appsignal::CheckIn.cron("nightly") { ... }`
  # sends a start event before the block and a finish event after it (none when it
  # raises, so a failing task shows up as missed). Events go to
  # `POST {logging_endpoint}/check_ins/json` as NDJSON, from a background thread.
  module CheckIn
    class << self
      # With a block: start, block, finish; returns the block's value.
      # Without: just a finish event (for tasks that only report completion).
      def cron(identifier)
        cron = Cron.new(identifier: identifier)
        output = nil
        if block_given?
          cron.start
          output = yield
        end
        cron.finish
        output
      end

      # A heartbeat event, e.g. from a long-running process's main loop.
      def heartbeat(identifier)
        return unless Appsignal.active?

        scheduler.schedule(identifier: identifier.to_s, timestamp: Time.now.utc.to_i, check_in_type: "heartbeat")
      end

      def scheduler
        @scheduler ||= Scheduler.new
      end

      # Sends what is queued (waiting at most `timeout` seconds); called by Appsignal.stop.
      def stop(timeout = 2.0)
        @scheduler&.stop(timeout)
      end
    end

    # One run of a cron task: start and finish share a random digest, so AppSignal
    # can tell overlapping runs apart.
    class Cron
      attr_reader :identifier, :digest

      def initialize(identifier:)
        @identifier = identifier.to_s
        @digest = SecureRandom.hex(8)
      end

      def start
        transmit("start")
      end

      def finish
        transmit("finish")
      end

      private

      def transmit(kind)
        return unless Appsignal.active?

        CheckIn.scheduler.schedule(identifier: @identifier, digest: @digest, kind: kind,
                                   timestamp: Time.now.utc.to_i, check_in_type: "cron")
      end
    end
  end
end
