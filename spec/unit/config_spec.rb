# frozen_string_literal: true

require "spec_helper"
require "tmpdir"
require "open3"

RSpec.describe Appsignal::Config do
  around do |example|
    saved = ENV.to_h.select { |key, _| key.start_with?("APPSIGNAL_") }
    saved.each_key { |key| ENV.delete(key) }
    Dir.mktmpdir do |root|
      @root = root
      example.run
    end
  ensure
    ENV.keys.select { |key| key.start_with?("APPSIGNAL_") }.each { |key| ENV.delete(key) }
    saved.each { |key, value| ENV[key] = value }
  end

  def write_yml(text)
    FileUtils.mkdir_p(File.join(@root, "config"))
    File.write(File.join(@root, "config", "appsignal.yml"), text)
  end

  it "reads the section of its environment, with ERB" do
    ENV["MY_KEY_FOR_SPEC"] = "from-erb"
    write_yml(<<~YAML)
      production:
        active: true
        name: "Shop"
        push_api_key: "<%= ENV['MY_KEY_FOR_SPEC'] %>"
        ignore_actions: ["HealthController#show"]
      staging:
        name: "Other"
    YAML
    config = described_class.new(root_path: @root, env: "production")
    expect(config[:name]).to eq("Shop")
    expect(config[:push_api_key]).to eq("from-erb")
    expect(config[:ignore_actions]).to eq(["HealthController#show"])
    expect(config.active?).to be(true)
    expect(config.source_of(:name)).to eq(:file)
  ensure
    ENV.delete("MY_KEY_FOR_SPEC")
  end

  it "lets env vars win over the file, and code sit between them" do
    write_yml("test:\n  name: from-file\n  log_level: debug\n  revision: file-rev\n")
    ENV["APPSIGNAL_APP_NAME"] = "from-env"
    ENV["APPSIGNAL_FILTER_PARAMETERS"] = "password, token"
    config = described_class.new(root_path: @root, env: "test")
    config.set_from_code(:name, "from-code")
    config.set_from_code(:revision, "code-rev")
    expect(config[:name]).to eq("from-env")
    expect(config[:revision]).to eq("code-rev")
    expect(config[:log_level]).to eq("debug")
    expect(config[:filter_parameters]).to eq(%w[password token])
  end

  it "warns about unknown keys and names the key and expected type of a bad value" do
    write_yml("test:\n  pussh_api_key: typo\n  enable_host_metrics: sometimes\n  transmission_interval: soon\n")
    config = described_class.new(root_path: @root, env: "test")
    expect(config.warnings).to include(a_string_matching(/unknown config option `pussh_api_key`/))
    expect(config.warnings).to include(a_string_matching(/`enable_host_metrics`.*must be true or false.*"sometimes"/))
    expect(config.warnings).to include(a_string_matching(/`transmission_interval`.*must be a number/))
    expect(config[:enable_host_metrics]).to be(true)
    expect(config[:transmission_interval]).to eq(30.0)
  end

  it "is active with a push API key from the env alone, and not without one" do
    expect(described_class.new(root_path: @root, env: "test").active?).to be(false)
    ENV["APPSIGNAL_PUSH_API_KEY"] = "abc"
    expect(described_class.new(root_path: @root, env: "test").active?).to be(true)
    ENV["APPSIGNAL_ACTIVE"] = "false"
    expect(described_class.new(root_path: @root, env: "test").active?).to be(false)
  end

  it "reports an unreadable file without raising" do
    write_yml("test: [unclosed\n")
    config = described_class.new(root_path: @root, env: "test")
    expect(config.warnings.first).to match(/cannot read .*appsignal.yml/)
  end

  it "masks the push API key and passes the agent only its own settings" do
    ENV["APPSIGNAL_PUSH_API_KEY"] = "secret-push-key-1234"
    config = described_class.new(root_path: @root, env: "test")
    expect(config.to_masked_h[:push_api_key][:value]).not_to include("push-key-1234")
    env = config.agent_env("/tmp/wd")
    expect(env).to include("APPSIGNAL_PUSH_API_KEY" => "secret-push-key-1234",
                           "APPSIGNAL_WORKING_DIRECTORY_PATH" => "/tmp/wd", "APPSIGNAL_APP_ENV" => "test")
  end

  it "says how to set a missing push API key, and why it is not active" do
    reason = described_class.new(root_path: @root, env: "staging").inactive_reason
    expect(reason).to include("no push API key for environment `staging`", "push_api_key",
                              "config/appsignal.yml", "APPSIGNAL_PUSH_API_KEY")
    ENV["APPSIGNAL_PUSH_API_KEY"] = "abc"
    expect(described_class.new(root_path: @root, env: "staging").inactive_reason).to be_nil
    ENV["APPSIGNAL_ACTIVE"] = "false"
    expect(described_class.new(root_path: @root, env: "staging").inactive_reason).to include("active: false")
  end

  it "names the env var and the expected type of a bad env value" do
    ENV["APPSIGNAL_ACTIVE"] = "maybe"
    ENV["APPSIGNAL_TRANSMISSION_INTERVAL"] = "fast"
    config = described_class.new(root_path: @root, env: "test")
    expect(config.warnings).to include(
      a_string_matching(/`active` from env var APPSIGNAL_ACTIVE must be true or false, got "maybe"/),
      a_string_matching(/`transmission_interval` from env var APPSIGNAL_TRANSMISSION_INTERVAL must be a number/)
    )
  end

  it "warns about an unknown or mistyped option set in Appsignal.configure instead of raising" do
    config = described_class.new(root_path: @root, env: "test")
    dsl = Appsignal::ConfigDSL.new(config)
    expect { dsl.pussh_api_key = "typo" }.not_to raise_error
    dsl.ignore_actions = "not a list"
    expect(config.warnings).to include(
      a_string_matching(/unknown config option `pussh_api_key` set in Appsignal.configure/),
      a_string_matching(/`ignore_actions` from Appsignal.configure must be a list of strings/)
    )
    expect { dsl.not_a_setter }.to raise_error(NoMethodError)
  end

  it "logs every config problem at start, in a real process, and does not start without a key" do
    write_yml("test:\n  active: true\n  pussh_api_key: typo\n  enable_host_metrics: sometimes\n")
    env = SpecPaths.ruby_env.merge("APPSIGNAL_LOG" => "stdout", "APPSIGNAL_APP_ENV" => "test")
    script = "require 'appsignal'; Appsignal.configure(root_path: #{@root.inspect}); p Appsignal.start"
    output, status = Open3.capture2e(env, RbConfig.ruby, "-e", script)
    expect(status).to be_success
    expect(output).to match(/WARN.*unknown config option `pussh_api_key`/)
    expect(output).to match(/WARN.*`enable_host_metrics` from .*appsignal.yml \(test\) must be true or false/)
    expect(output).to match(/WARN.*AppSignal not started: no push API key for environment `test`: set push_api_key/)
    expect(output.lines.last.strip).to eq("false")
  end

  it "is configured in code through Appsignal.configure's DSL" do
    dsl = Appsignal::ConfigDSL.new(config = described_class.new(root_path: @root, env: "staging"))
    dsl.activate_if_environment(:production, :staging)
    dsl.push_api_key = "k"
    dsl.ignore_errors = ["ActiveRecord::RecordNotFound"]
    expect(config.active?).to be(true)
    expect(config[:ignore_errors]).to eq(["ActiveRecord::RecordNotFound"])
  end
end
