# frozen_string_literal: true

# Specs run against the gem as a user gets it when APPSIGNAL_GEM_HOME points at a
# GEM_HOME where `gem install appsignal-*.gem` put it (CI does this), and against
# lib/ plus the cargo-built extension otherwise.
require_relative "support/paths"

if ENV["APPSIGNAL_GEM_HOME"]
  Gem.paths = { "GEM_HOME" => ENV["APPSIGNAL_GEM_HOME"],
                "GEM_PATH" => [ENV["APPSIGNAL_GEM_HOME"], *Gem.default_path].join(File::PATH_SEPARATOR) }
  # RSpec puts lib/ on the load path; the installed gem must not find `rake compile`'s
  # lib/appsignal_extension.so through it.
  lib_dir = File.join(SpecPaths::ROOT, "lib")
  $LOAD_PATH.reject! { |path| File.expand_path(path) == lib_dir }
  gem "appsignal"
else
  # `rake compile` put lib/appsignal_extension.so and ext/appsignal-agent in place.
  $LOAD_PATH.unshift(File.join(SpecPaths::ROOT, "lib"))
end

require "appsignal"
require "fileutils"
require_relative "support/push_receiver"
require_relative "support/app_process"
require_relative "support/agent_helpers"

RSpec.configure do |config|
  config.include AgentHelpers
  config.disable_monkey_patching!
  config.order = :defined
  config.expect_with(:rspec) { |c| c.syntax = :expect }
end
