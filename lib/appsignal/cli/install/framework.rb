# frozen_string_literal: true

require "appsignal/cli/command"

module Appsignal
  module CLI
    class Install < Command
      # Which kind of app lives in a directory, from its files alone (nothing is
      # required or run): Rails, Sinatra, plain Rack, or unknown.
      class Framework
        SINATRA_REQUIRE = %r{^\s*require\s*\(?\s*["']sinatra(/base)?["']}
        SINATRA_GEM = /^\s*gem\s*\(?\s*["']sinatra["']/
        RAILS_MODULE = /^\s*module\s+([A-Z]\w*(?:::[A-Z]\w*)*)/
        # Where a Sinatra app's require usually is; not the whole tree (vendor/ can be huge).
        SINATRA_FILES = %w[config.ru *.rb app/*.rb lib/*.rb].freeze

        attr_reader :kind, :root

        def self.detect(root)
          new(root, detect_kind(root))
        end

        def self.detect_kind(root)
          return :rails if File.file?(File.join(root, "config", "application.rb"))
          return :sinatra if sinatra?(root)
          return :rack if File.file?(File.join(root, "config.ru"))

          :unknown
        end

        def self.sinatra?(root)
          gemfile = File.join(root, "Gemfile")
          return true if File.file?(gemfile) && File.read(gemfile).match?(SINATRA_GEM)

          SINATRA_FILES.flat_map { |pattern| Dir.glob(File.join(root, pattern)) }.any? do |file|
            File.file?(file) && File.read(file, 64 * 1024).to_s.match?(SINATRA_REQUIRE)
          end
        rescue SystemCallError
          false
        end

        def initialize(root, kind)
          @root = root
          @kind = kind
        end

        def label
          { rails: "Ruby on Rails", sinatra: "Sinatra", rack: "Rack", unknown: "an unknown framework" }.fetch(kind)
        end

        # Rails: the application module's name (`module Blog` → "Blog"); else the directory's.
        def default_app_name
          if kind == :rails
            name = File.read(File.join(root, "config", "application.rb"))[RAILS_MODULE, 1]
            return name if name
          end
          File.basename(File.expand_path(root))
        rescue SystemCallError
          File.basename(File.expand_path(root))
        end

        # Rails: the environments the app defines, minus test; else the usual three.
        def default_environments
          if kind == :rails
            found = Dir.glob(File.join(root, "config", "environments", "*.rb")).map { |f| File.basename(f, ".rb") }
            found -= ["test"]
            return found.sort unless found.empty?
          end
          %w[development production staging]
        end

        def gem_in_gemfile?
          gemfile = File.join(root, "Gemfile")
          File.file?(gemfile) && File.read(gemfile).match?(/^\s*gem\s*\(?\s*["']appsignal["']/)
        end

        # What the user still has to do, as lines to print.
        def next_steps
          steps = gem_in_gemfile? ? [] : ["Add the gem to your Gemfile:", "", '  gem "appsignal"', ""]
          steps + framework_steps
        end

        private

        def framework_steps
          case kind
          when :rails
            ["Rails starts AppSignal by itself when the app boots; no code changes are needed."]
          when :sinatra
            ["Start AppSignal in config.ru (or the app's main file), after requiring Sinatra:", "",
             '  require "appsignal"', '  require "sinatra" # or "sinatra/base"', "",
             "  Appsignal.load(:sinatra)", "  Appsignal.start", "  use Appsignal::Rack::InstrumentationMiddleware"]
          when :rack
            ["Start AppSignal in config.ru, before `run`:", "",
             '  require "appsignal"', "", "  Appsignal.start", "  use Appsignal::Rack::InstrumentationMiddleware"]
          else
            ["No Rails, Sinatra or Rack app found here, so instrumentation needs a few lines of code:", "",
             '  require "appsignal"', "  Appsignal.start",
             '  Appsignal.monitor(action: "MyJob#perform") { ... } # one transaction per unit of work']
          end
        end
      end
    end
  end
end
