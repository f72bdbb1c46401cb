# frozen_string_literal: true

require "spec_helper"
require "tmpdir"
require "appsignal/cli/install"

RSpec.describe Appsignal::CLI::Install::ConfigFile do
  around do |example|
    Dir.mktmpdir("cfg") do |dir|
      @root = dir
      FileUtils.mkdir_p(File.join(dir, "config"))
      example.run
    end
  end

  def load_as(env, content)
    File.write(File.join(@root, "config", "appsignal.yml"), content)
    Appsignal::Config.new(root_path: @root, env: env)
  end

  it "writes a file the gem reads back: each environment active, test inactive, no warnings" do
    content = described_class.new(name: "My \"quoted\" <%= app %>", environments: %w[production staging test],
                                  push_api_key: "0123456789abcdef", endpoint: "http://127.0.0.1:9").render
    production = load_as("production", content)
    expect(production.warnings).to eq([])
    expect(production[:name]).to eq("My \"quoted\" <%= app %>")
    expect(production[:push_api_key]).to eq("0123456789abcdef")
    expect(production[:push_api_endpoint]).to eq("http://127.0.0.1:9")
    expect(production.active?).to be(true)
    expect(load_as("staging", content).active?).to be(true)
    expect(load_as("test", content)[:active]).to be(false)
    expect(content.scan(/^test:/).length).to eq(1)
  end

  it "leaves the key out when it comes from APPSIGNAL_PUSH_API_KEY, and the default endpoint too" do
    content = described_class.new(name: "app", environments: ["production"], push_api_key: nil,
                                  endpoint: "https://push.appsignal.com").render
    expect(content).not_to match(/^\s*push_api_key:/)
    expect(content).to include("APPSIGNAL_PUSH_API_KEY")
    expect(content).not_to include("push_api_endpoint:")
    config = load_as("production", content)
    expect(config.warnings).to eq([])
    expect(config[:push_api_key]).to eq(ENV.fetch("APPSIGNAL_PUSH_API_KEY", nil))
  end
end

RSpec.describe Appsignal::CLI::Install::Framework do
  around do |example|
    Dir.mktmpdir("fw") do |dir|
      @root = dir
      example.run
    end
  end

  def write(path, content)
    FileUtils.mkdir_p(File.dirname(File.join(@root, path)))
    File.write(File.join(@root, path), content)
  end

  it "detects Rails by config/application.rb, with its module name and environments" do
    write("config/application.rb", "require \"rails\"\nmodule BlogApp\n  class Application; end\nend\n")
    %w[development production test].each { |env| write("config/environments/#{env}.rb", "") }
    framework = described_class.detect(@root)
    expect(framework.kind).to eq(:rails)
    expect(framework.default_app_name).to eq("BlogApp")
    expect(framework.default_environments).to eq(%w[development production])
    expect(framework.next_steps.join("\n")).to include('gem "appsignal"', "Rails starts AppSignal by itself")
  end

  it "detects Sinatra by a require or the Gemfile, and plain Rack by config.ru" do
    write("config.ru", "run ->(env) { [200, {}, []] }\n")
    expect(described_class.detect(@root).kind).to eq(:rack)
    write("app.rb", "require 'sinatra/base'\n")
    expect(described_class.detect(@root).kind).to eq(:sinatra)
    FileUtils.rm(File.join(@root, "app.rb"))
    write("Gemfile", "source \"https://rubygems.org\"\ngem \"sinatra\"\ngem \"appsignal\"\n")
    framework = described_class.detect(@root)
    expect(framework.kind).to eq(:sinatra)
    steps = framework.next_steps.join("\n")
    expect(steps).not_to include('gem "appsignal"')
    expect(steps).to include("Appsignal.load(:sinatra)", "Appsignal.start",
                             "use Appsignal::Rack::InstrumentationMiddleware")
  end

  it "falls back to unknown with the directory name" do
    framework = described_class.detect(@root)
    expect(framework.kind).to eq(:unknown)
    expect(framework.default_app_name).to eq(File.basename(@root))
    expect(framework.default_environments).to eq(%w[development production staging])
  end
end
