# frozen_string_literal: true

require "appsignal/cli/command"

module Appsignal
  module CLI
    # `appsignal demo`: starts AppSignal from this app's configuration and sends two
    # requests to DemoController#hello, one raising VerificationError and one slow
    # with a few events, then stops (which flushes them to the agent).
    class Demo < Command
      ACTION = "DemoController#hello"
      SLOW_RENDER_SECONDS = 0.25
      SLOW_QUERY_SECONDS = 0.05
      TRANSACTIONS = 2

      # Reported as plain `VerificationError` without a top-level constant in the app.
      class VerificationError < StandardError
        def self.name
          "VerificationError"
        end
      end

      def self.option_parser(options)
        OptionParser.new do |o|
          o.banner = "Usage: appsignal demo [options]"
          o.on("--environment ENV", "Environment whose configuration to use") { |v| options[:environment] = v }
        end
      end

      def run
        config = Appsignal.configure(options[:environment], root_path: Dir.pwd)
        say "Starting AppSignal for #{config.app_name.inspect} (#{config.env}), reporting to " \
            "#{config[:push_api_endpoint]}"
        return not_started(config) unless Appsignal.start

        send_error_request
        send_slow_request
        Appsignal.stop("demo")
        report_sent(config)
      end

      private

      def not_started(config)
        complain "AppSignal did not start, so no demo data was sent: #{start_failure(config)}."
        complain "Run `appsignal diagnose#{" --environment #{config.env}" if options[:environment]}` for details."
        1
      end

      def start_failure(config)
        config.warnings.each { |warning| complain "Config warning: #{warning}" }
        if config[:active] == false
          return "not active for environment `#{config.env}` (set active: true in config/appsignal.yml or " \
                 "APPSIGNAL_ACTIVE=true, or pick another --environment)"
        end
        unless config.valid?
          return "no push API key for environment `#{config.env}` (set push_api_key in config/appsignal.yml " \
                 "or APPSIGNAL_PUSH_API_KEY)"
        end
        return Appsignal::ExtensionLoader.failure_reason unless Appsignal::ExtensionLoader.loaded?
        unless Appsignal::ExtensionLoader.agent_path
          return "the agent binary (appsignal-agent) was not found; set APPSIGNAL_AGENT_PATH or reinstall the gem"
        end

        "the agent could not be started; see #{Appsignal.internal_logger.path || "the log"}"
      end

      def send_error_request
        transaction = demo_transaction
        begin
          raise VerificationError, "Hello world! This is an error sent by `appsignal demo`."
        rescue VerificationError => e
          transaction.set_error(e)
        end
        Appsignal::Transaction.complete_current!
      end

      def send_slow_request
        demo_transaction
        Appsignal.instrument("process_action.action_controller", ACTION) do
          Appsignal.instrument_sql("sql.active_record", "Demo load", "SELECT * FROM demos WHERE id = 1") do
            sleep SLOW_QUERY_SECONDS
          end
          Appsignal.instrument("render.action_view", "Render hello.html.erb", "<h1>Hello world!</h1>") do
            sleep SLOW_RENDER_SECONDS
          end
        end
        Appsignal::Transaction.complete_current!
      end

      def demo_transaction
        transaction = Appsignal::Transaction.create(Appsignal::Transaction::HTTP_REQUEST)
        transaction.set_action(ACTION)
        transaction.set_metadata("path", "/hello")
        transaction.set_metadata("method", "GET")
        transaction.set_metadata("demo_sample", "true")
        transaction.add_params("controller" => "demo", "action" => "hello")
        transaction.add_headers("REQUEST_METHOD" => "GET", "PATH_INFO" => "/hello", "SERVER_NAME" => "localhost")
        transaction
      end

      def report_sent(config)
        stats = Appsignal::Extension.stats
        say "Sent a demo error (VerificationError) and a demo slow request, both as #{ACTION}, to the agent."
        if stats[:agent_unavailable].to_i.positive? || stats[:transactions_dropped].to_i.positive?
          complain "Warning: the agent did not take everything (#{stats.inspect}); run `appsignal diagnose`."
        end
        interval = config[:transmission_interval].to_i
        unit = interval == 1 ? "second" : "seconds"
        say "The agent sends them to #{config[:push_api_endpoint]} within #{interval} #{unit}. Look in AppSignal " \
            "for app #{config.app_name.inspect}, environment #{config.env}: the error under Errors, " \
            "the slow request under Performance."
        0
      end
    end
  end
end
