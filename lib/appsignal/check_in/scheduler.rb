# frozen_string_literal: true

require "json"
require "net/http"
require "socket"
require "uri"

module Appsignal
  module CheckIn
    # Batches check-in events and sends them from its own thread, so `cron` never
    # waits on the network. Events that come within DEBOUNCE of each other go in one
    # request. A failed request is logged (URL without the key) and not retried: a
    # check-in that arrives late would only be misleading.
    class Scheduler
      DEBOUNCE = 0.1
      TIMEOUT = 10

      def initialize
        @queue = Queue.new
        @mutex = Mutex.new
        @thread = nil
        @pid = nil
      end

      def schedule(event)
        ensure_thread
        @queue << event
      end

      def stop(timeout)
        thread = @thread
        return unless thread&.alive? && @pid == Process.pid

        @queue << :stop
        thread.join(timeout)
      end

      private

      # Started on first use, and again in a forked child (threads do not survive fork).
      def ensure_thread
        @mutex.synchronize do
          return if @thread&.alive? && @pid == Process.pid

          @queue = Queue.new if @pid != Process.pid
          @pid = Process.pid
          @thread = Thread.new { run }
          @thread.name = "appsignal-check-ins" if @thread.respond_to?(:name=)
        end
      end

      def run
        loop do
          first = @queue.pop
          break if first == :stop

          batch = [first]
          stop = collect_more(batch)
          deliver(batch)
          break if stop
        end
      end

      def collect_more(batch)
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + DEBOUNCE
        loop do
          remaining = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
          return false if remaining <= 0

          event = next_event_without_waiting
          if event.nil?
            sleep([remaining, 0.01].min) # Queue#pop(timeout:) needs Ruby 3.2
            next
          end
          return true if event == :stop

          batch << event
        end
      end

      def next_event_without_waiting
        @queue.pop(true)
      rescue ThreadError
        nil
      end

      def deliver(events)
        config = Appsignal.config
        uri = URI("#{config[:logging_endpoint].chomp("/")}/check_ins/json")
        uri.query = URI.encode_www_form(api_key: config[:push_api_key], name: config.app_name,
                                        environment: config.env, hostname: hostname(config))
        body = events.map { |event| JSON.generate(event) }.join("\n")
        response = post(uri, body)
        return if response.is_a?(Net::HTTPSuccess)

        log_failure(uri, events, "status #{response.code}")
      rescue StandardError => e
        log_failure(uri, events, "#{e.class}: #{e.message}")
      end

      def post(uri, body)
        Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == "https",
                                            open_timeout: TIMEOUT, read_timeout: TIMEOUT) do |http|
          http.post(uri.request_uri, body, "Content-Type" => "application/x-ndjson")
        end
      end

      def log_failure(uri, events, why)
        where = uri ? "#{uri.scheme}://#{uri.host}:#{uri.port}#{uri.path}" : "the logging endpoint"
        Appsignal.internal_logger.error("could not send #{events.length} check-in event(s) to #{where}: #{why}")
      end

      def hostname(config)
        config[:hostname] || Socket.gethostname
      rescue StandardError
        "unknown"
      end
    end
  end
end
