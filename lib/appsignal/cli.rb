# frozen_string_literal: true

require "optparse"

module Appsignal
  # `appsignal COMMAND [options]`: see `appsignal help`. Every command returns its
  # exit code (0 fine, 1 something to fix, 2 a usage mistake) instead of calling
  # `exit`, and writes to the IO it was given, so specs can run it in-process too.
  module CLI
    USAGE_ERROR = 2

    COMMANDS = {
      "install" => "write config/appsignal.yml for this app and validate the push API key",
      "diagnose" => "report the configuration, extension, agent, paths and logs; exit 1 on problems",
      "demo" => "send a demo error and a demo slow request to check the setup end to end",
      "version" => "print the gem, extension and agent versions",
      "help" => "list the commands, or `appsignal help COMMAND` for its options"
    }.freeze

    # How commands talk to the user; injected so specs can script stdin.
    Streams = Struct.new(:stdin, :stdout, :stderr)

    module_function

    def run(argv, io: Streams.new($stdin, $stdout, $stderr))
      argv = argv.dup
      command = argv.shift || "help"
      case command
      when "version", "--version", "-v" then print_version(io)
      when "help", "--help", "-h" then print_help(argv.first, io)
      when *COMMANDS.keys then run_command(command, argv, io)
      else
        io.stderr.puts "appsignal: unknown command `#{command}`. Commands: #{COMMANDS.keys.join(", ")}. " \
                       "Run `appsignal help` for what each does."
        USAGE_ERROR
      end
    end

    def run_command(command, argv, io)
      klass = command_class(command)
      options = klass.parse_options(argv)
      klass.new(options, io).run
    rescue OptionParser::ParseError => e
      io.stderr.puts "appsignal #{command}: #{e.message}. Run `appsignal help #{command}` for the options."
      USAGE_ERROR
    end

    def command_class(command)
      require "appsignal/cli/#{command}"
      const_get(command.capitalize)
    end

    def print_version(io)
      extension = Appsignal::ExtensionLoader.loaded? ? "loaded" : "not loaded"
      io.stdout.puts "appsignal #{Appsignal::VERSION} (extension #{extension}, " \
                     "agent #{Appsignal::ExtensionLoader.agent_path || "not found"})"
      0
    end

    def print_help(topic, io)
      if topic && COMMANDS.key?(topic) && !%w[help version].include?(topic)
        io.stdout.puts command_class(topic).option_parser({}).help
        return 0
      end
      lines = COMMANDS.map { |name, text| format("  %-10<name>s %<text>s", name: name, text: text) }
      io.stdout.puts "Usage: appsignal COMMAND [options]\n\nCommands:\n#{lines.join("\n")}\n\n" \
                     "Run `appsignal help COMMAND` for a command's options."
      0
    end
  end
end
