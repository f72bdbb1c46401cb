# frozen_string_literal: true

require "optparse"

module Appsignal
  module CLI
    # What every command shares: option parsing into a hash, output to the given
    # IO, and the configuration for the chosen environment.
    class Command
      class << self
        # Options as a hash; positional arguments under :args.
        def parse_options(argv)
          options = {}
          options[:args] = option_parser(options).parse(argv)
          options
        end

        def option_parser(_options)
          raise NotImplementedError
        end
      end

      def initialize(options, io)
        @options = options
        @io = io
      end

      private

      attr_reader :options

      def say(line = "")
        @io.stdout.puts(line)
      end

      def complain(line)
        @io.stderr.puts(line)
      end

      # The configuration the app would load here: config/appsignal.yml under the
      # current directory for the environment given (or the usual env vars), env
      # vars winning.
      def load_config
        Appsignal::Config.new(root_path: Dir.pwd, env: options[:environment])
      end
    end
  end
end
