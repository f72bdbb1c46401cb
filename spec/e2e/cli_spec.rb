# frozen_string_literal: true

require "spec_helper"
require "open3"
require "json"
require "rbconfig"
require_relative "../unit/cli/auth_responder"
require_relative "../unit/cli/otlp_collector"

# The `appsignal` executable as a user runs it: a real Ruby process in a temp app
# directory, the real agent, and the test Push API receiver.
CLI_SPEC_KEY = "0123456789abcdef-spec-key"

RSpec.describe "the appsignal executable" do
  before(:all) { @receiver = PushReceiver.start }
  after(:all) { @receiver.stop }

  around do |example|
    Dir.mktmpdir("cliapp") do |dir|
      @app_dir = dir
      example.run
    end
  end

  # Runs bin/appsignal with only the APPSIGNAL_* variables given here.
  def cli(*args, env: {}, stdin: "", chdir: @app_dir)
    clean = ENV.keys.grep(/\AAPPSIGNAL_/).to_h { |name| [name, nil] }
    full_env = clean.merge(SpecPaths.ruby_env, "APPSIGNAL_AGENT_PATH" => SpecPaths.agent).merge(env)
    stdout, stderr, status = Open3.capture3(full_env, RbConfig.ruby, File.join(SpecPaths::ROOT, "bin", "appsignal"),
                                            *args, stdin_data: stdin, chdir: chdir)
    [stdout, stderr, status.exitstatus]
  end

  def write(path, content)
    full = File.join(@app_dir, path)
    FileUtils.mkdir_p(File.dirname(full))
    File.write(full, content)
  end

  def config_path
    File.join(@app_dir, "config", "appsignal.yml")
  end

  def load_config(env, vars = {})
    saved = vars.keys.to_h { |name| [name, ENV.fetch(name, nil)] }
    vars.each { |name, value| ENV[name] = value }
    Appsignal::Config.new(root_path: @app_dir, env: env)
  ensure
    saved.each { |name, value| ENV[name] = value }
  end

  describe "version, help and mistakes" do
    it "prints the version, lists every command, and exits 2 on an unknown command or option" do
      out, _, code = cli("version")
      expect([code, out]).to match([0, /\Aappsignal #{Regexp.escape(Appsignal::VERSION)} \(extension loaded/])

      out, _, code = cli("help")
      expect(code).to eq(0)
      %w[install diagnose demo version help].each { |command| expect(out).to match(/^  #{command} /) }
      expect(cli("help", "install").first).to include("--non-interactive", "--environment-variables", "--force")

      _, err, code = cli("frobnicate")
      expect(code).to eq(2)
      expect(err).to include("unknown command `frobnicate`", "appsignal help")

      _, err, code = cli("install", "--bogus")
      expect(code).to eq(2)
      expect(err).to include("invalid option: --bogus", "appsignal help install")
    end
  end

  describe "install" do
    it "writes config/appsignal.yml for a Sinatra app after validating the key, and refuses to overwrite it" do
      write("app.rb", "require \"sinatra\"\nget('/') { 'hi' }\n")
      args = lambda do |name|
        ["install", CLI_SPEC_KEY, "--non-interactive", "--name", name, "--environment", "production,staging",
         "--endpoint", @receiver.endpoint]
      end
      out, err, code = cli(*args.call("Spec App"))
      expect(code).to eq(0), err
      expect(out).to include("Detected Sinatra", "Validating the push API key 0123...(masked) with " \
                                                 "#{@receiver.endpoint}: valid")
      expect(out).to include("Appsignal.load(:sinatra)", "Appsignal.start", 'gem "appsignal"', "appsignal demo",
                             "use Appsignal::Rack::InstrumentationMiddleware")
      expect(out + err).not_to include(CLI_SPEC_KEY)
      auth = @receiver.requests.map { |r| r["path_and_query"] }.grep(%r{\A/1/auth}).last
      expect(URI.decode_www_form(auth.split("?", 2).last).to_h).to eq("api_key" => CLI_SPEC_KEY)

      production = load_config("production")
      expect(production.warnings).to eq([])
      expect([production[:name], production[:push_api_key], production[:push_api_endpoint], production.active?])
        .to eq(["Spec App", CLI_SPEC_KEY, @receiver.endpoint, true])
      expect(load_config("staging").active?).to be(true)
      expect(load_config("test")[:active]).to be(false)

      before = File.read(config_path)
      _, err, code = cli(*args.call("Other name"))
      expect(code).to eq(1)
      expect(err).to include("config/appsignal.yml already exists", "--force")
      expect(File.read(config_path)).to eq(before)

      _, err, code = cli(*args.call("Other name"), "--force")
      expect(code).to eq(0), err
      expect(load_config("production")[:name]).to eq("Other name")
    end

    it "detects Rails (name and environments from the app) and reads the key from APPSIGNAL_PUSH_API_KEY" do
      write("config/application.rb", "require \"rails\"\nmodule Shop\n  class Application; end\nend\n")
      %w[development production test].each { |env| write("config/environments/#{env}.rb", "") }
      write("Gemfile", "gem \"rails\"\ngem \"appsignal\"\n")
      env = { "APPSIGNAL_PUSH_API_KEY" => CLI_SPEC_KEY, "APPSIGNAL_PUSH_API_ENDPOINT" => @receiver.endpoint }
      out, err, code = cli("install", "--non-interactive", env: env)
      expect(code).to eq(0), err
      expect(out).to include("Detected Ruby on Rails", "APPSIGNAL_PUSH_API_KEY (0123...(masked))",
                             "Rails starts AppSignal by itself")
      expect(out).not_to include('gem "appsignal"', CLI_SPEC_KEY)
      content = File.read(config_path)
      expect(content).not_to include(CLI_SPEC_KEY)
      expect(content).not_to match(/^\s*push_api_key:/)
      config = load_config("production", "APPSIGNAL_PUSH_API_KEY" => CLI_SPEC_KEY)
      expect([config[:name], config[:push_api_key], config.active?]).to eq(["Shop", CLI_SPEC_KEY, true])
      expect(load_config("development").warnings).to eq([])
      expect(content).not_to include("staging:")
    end

    it "gives plain Rack steps, and prints env vars instead of a file with --environment-variables" do
      write("config.ru", "run ->(env) { [200, {}, ['hi']] }\n")
      out, err, code = cli("install", CLI_SPEC_KEY, "--non-interactive", "--environment-variables",
                           "--name", "Rack App", "--endpoint", @receiver.endpoint)
      expect(code).to eq(0), err
      expect(out).to include("Detected Rack", "export APPSIGNAL_APP_NAME=Rack\\ App", "export APPSIGNAL_ACTIVE=true",
                             "export APPSIGNAL_PUSH_API_KEY=", "use Appsignal::Rack::InstrumentationMiddleware")
      expect(out).not_to include("Appsignal.load(:sinatra)", CLI_SPEC_KEY)
      expect(File.exist?(config_path)).to be(false)
    end

    it "writes nothing when the Push API says 401 or cannot be reached, naming the endpoint but never the key" do
      responder = AuthResponder.new(401)
      out, err, code = cli("install", CLI_SPEC_KEY, "--non-interactive", "--endpoint", responder.endpoint)
      expect(code).to eq(1)
      expect(out).to include("invalid")
      expect(err).to include("not valid for #{responder.endpoint}")
      expect(out + err).not_to include(CLI_SPEC_KEY)
      expect(File.exist?(config_path)).to be(false)
      responder.stop

      closed = "http://127.0.0.1:#{AppProcess.free_port}"
      out, err, code = cli("install", CLI_SPEC_KEY, "--non-interactive", "--endpoint", closed)
      expect(code).to eq(1)
      expect(out + err).to include("cannot reach #{closed}", "--skip-validation")
      expect(out + err).not_to include(CLI_SPEC_KEY)
      expect(File.exist?(config_path)).to be(false)

      _, err, code = cli("install", CLI_SPEC_KEY, "--non-interactive", "--endpoint", closed, "--skip-validation")
      expect(code).to eq(0), err
      expect(load_config("production")[:push_api_key]).to eq(CLI_SPEC_KEY)
    end

    it "asks on stdin when interactive, and stops without a key" do
      write("config.ru", "run ->(env) { [200, {}, ['hi']] }\n")
      answers = "#{CLI_SPEC_KEY}\nAsked Name\n1\nproduction\n2\nn\n"
      out, err, code = cli("install", "--endpoint", @receiver.endpoint, stdin: answers)
      expect(code).to eq(0), err
      expect(out).to include("Push API key", "App name shown in AppSignal [#{File.basename(@app_dir)}]",
                             "How do you want to configure AppSignal?", "Environments to report from",
                             "Where should the push API key live?", "Send demo data now")
      expect(out).not_to include("Starting AppSignal")
      expect(out).not_to include(CLI_SPEC_KEY)
      expect(File.read(config_path)).not_to include(CLI_SPEC_KEY)
      config = load_config("production", "APPSIGNAL_PUSH_API_KEY" => CLI_SPEC_KEY)
      expect([config[:name], config.active?]).to eq(["Asked Name", true])

      FileUtils.rm(config_path)
      _, err, code = cli("install", stdin: "")
      expect(code).to eq(1)
      expect(err).to include("No push API key")
      expect(File.exist?(config_path)).to be(false)
    end
  end

  describe "install --demo" do
    before { @working_dir = make_working_dir }

    after do
      stop_agent(@working_dir)
      FileUtils.rm_rf(@working_dir)
    end

    it "sends demo data with the configuration it just wrote" do
      write("config.ru", "run ->(env) { [200, {}, ['hi']] }\n")
      env = { "APPSIGNAL_WORKING_DIRECTORY_PATH" => @working_dir, "APPSIGNAL_TRANSMISSION_INTERVAL" => "1",
              "APPSIGNAL_ENABLE_HOST_METRICS" => "false", "APPSIGNAL_LOG_PATH" => @working_dir }
      out, err, code = cli("install", CLI_SPEC_KEY, "--non-interactive", "--demo", "--name", "Installed Demo",
                           "--environment", "production", "--endpoint", @receiver.endpoint, env: env)
      expect(code).to eq(0), out + err
      expect(out).to include("Wrote config/appsignal.yml", "Starting AppSignal for \"Installed Demo\" (production)",
                             "Sent a demo error (VerificationError)")
      deadline = Time.now + 20
      query = nil
      until query || Time.now > deadline
        sleep 0.1
        query = @receiver.requests.map { |r| r["path_and_query"] }.grep(%r{\A/1/transmit})
                         .map { |q| URI.decode_www_form(q.split("?", 2).last).to_h }
                         .find { |q| q["name"] == "Installed Demo" }
      end
      expect(query).to include("api_key" => CLI_SPEC_KEY, "environment" => "production")
    end
  end

  describe "demo and diagnose" do
    before { @working_dir = make_working_dir }

    after do
      stop_agent(@working_dir)
      FileUtils.rm_rf(@working_dir)
    end

    it "sends a demo error and slow request through the real agent, then diagnoses the running setup" do
      env = appsignal_env(@receiver, @working_dir, "APPSIGNAL_PUSH_API_KEY" => CLI_SPEC_KEY)
      # OTLP settings are part of the agent's identity: the demo's agent has them too.
      otlp_env = env.merge("APPSIGNAL_OTLP_ENDPOINT" => "http://127.0.0.1:4318",
                           "APPSIGNAL_OTLP_HEADERS" => "x-token=otlp-secret-value")
      out, err, code = cli("demo", env: otlp_env)
      expect(code).to eq(0), err
      expect(out).to include("VerificationError", "DemoController#hello", @receiver.endpoint, "spec-app")

      payloads = @receiver.wait_for do |received|
        PushReceiver.samples(received).count { |s| s["action"] == "DemoController#hello" } >= 2
      end
      samples = PushReceiver.samples(payloads).select { |s| s["action"] == "DemoController#hello" }
      error_sample = samples.find { |s| s["error"] }
      slow_sample = samples.find { |s| s["error"].nil? }
      expect(error_sample["error"]["name"]).to eq("VerificationError")
      expect(error_sample["metadata"]).to include("demo_sample" => "true", "path" => "/hello")
      expect(slow_sample["events"].map { |e| e["name"] })
        .to include("process_action.action_controller", "sql.active_record", "render.action_view")
      expect(slow_sample["duration_ns"]).to be >= 250_000_000
      minutes = PushReceiver.actions(payloads).select { |a| a["action"] == "DemoController#hello" }
      expect(minutes.sum { |a| a["count"].to_i }).to eq(2)
      expect(minutes.sum { |a| a["error_count"].to_i }).to eq(1)

      report = File.join(@app_dir, "report.json")
      out, err, code = cli("diagnose", "--send-report", "--report-path", report, env: otlp_env)
      expect(code).to eq(0), out + err
      expect(out).to include("Gem version: \"#{Appsignal::VERSION}\"", "Extension loaded: true",
                             "Agent path: \"#{SpecPaths.agent}\"", "Agent version: \"",
                             "push_api_key: \"0123...(masked)\" (from env)", "Push API key: valid",
                             "Running: yes, pid #{agent_pid(@working_dir)}", "Serves this configuration: yes",
                             "Working directory\n    Path: \"#{@working_dir}\"", "Agent socket",
                             "Socket: #{File.join(@working_dir, "agent.socket")} (accepts connections)",
                             "Payloads kept for retry", "Endpoint: http://127.0.0.1:4318 (APPSIGNAL_OTLP_ENDPOINT)",
                             "Push API too: yes", "Headers: x-token (values not shown)",
                             "No problems found.", "written to #{report}")
      expect(out).to match(/Working directory\n.*\n    Exists: true \(directory, mode 0\d{3}\)\n.*\n    Owner: \S+/)
      expect(out).not_to include("otlp-secret-value")
      expect(out).to include("Last ")
      expect(out).to match(/^      .*AppSignal #{Regexp.escape(Appsignal::VERSION)} started for spec-app/)
      expect(out).not_to include(CLI_SPEC_KEY)
      raw = File.read(report)
      expect(raw).not_to include(CLI_SPEC_KEY)
      data = JSON.parse(raw)
      expect(data["problems"]).to eq([])
      expect(data["agent"]).to include("running" => true, "serves_this_config" => true, "socket_connectable" => true)
      expect(data["otlp"]).to eq("endpoint" => "http://127.0.0.1:4318", "only" => false, "header_names" => ["x-token"])
      expect(data["config"]["options"]["push_api_key"]).to eq("value" => "0123...(masked)", "source" => "env")
      expect(data["paths"]["working_directory"]).to include("exists" => true, "type" => "directory", "writable" => true)

      # The agent still runs, but nothing can reach it any more.
      socket = File.join(@working_dir, "agent.socket")
      File.delete(socket)
      out, _, code = cli("diagnose", "--no-send-report", env: otlp_env)
      expect(code).to eq(1)
      pid = agent_pid(@working_dir)
      expect(out).to include("Problems found (1)",
                             "the agent (pid #{pid}) runs but #{socket} does not accept connections")
    end

    it "sends the demo over OTLP instead of the Push API with APPSIGNAL_OTLP_ONLY, queries obfuscated" do
      collector = OtlpCollector.new
      env = appsignal_env(@receiver, @working_dir, "APPSIGNAL_PUSH_API_KEY" => CLI_SPEC_KEY,
                                                   "APPSIGNAL_APP_NAME" => "otlp-demo",
                                                   "APPSIGNAL_OTLP_ENDPOINT" => collector.endpoint,
                                                   "APPSIGNAL_OTLP_ONLY" => "true")
      _, err, code = cli("demo", env: env)
      expect(code).to eq(0), err
      deadline = Time.now + 20
      traces = nil
      until traces || Time.now > deadline
        sleep 0.1
        traces = collector.requests.find { |r| r.path == "/v1/traces" && r.body.include?("VerificationError") }
      end
      expect(traces).not_to be_nil, "no trace with the demo error reached the OTLP receiver"
      expect(traces.headers).to include("content-type" => "application/x-protobuf", "content-encoding" => "gzip")
      spans = collector.requests.select { |r| r.path == "/v1/traces" }.map(&:body).join
      expect(spans).to include("DemoController#hello", "otlp-demo", "http.request.method", "db.query.text",
                               "SELECT * FROM demos WHERE id = ?", "render.action_view", "exception.type")
      expect(spans).not_to include("id = 1", CLI_SPEC_KEY)
      sleep 1.5 # another transmission interval
      transmits = @receiver.requests.map { |r| r["path_and_query"] }.grep(%r{\A/1/transmit.*name=otlp-demo})
      expect(transmits).to eq([])
    ensure
      collector&.stop
    end

    it "exits 1 and says why when the key is missing, invalid, or the working directory cannot be made" do
      env = appsignal_env(@receiver, @working_dir).merge("APPSIGNAL_PUSH_API_KEY" => nil)
      write("config/appsignal.yml", "test:\n  ignore_actions: [\"Health#check\"]\n")
      out, _, code = cli("diagnose", env: env.merge("APPSIGNAL_OTLP_ENDPOINT" => "localhost:4318"))
      expect(code).to eq(1)
      expect(out).to include("Problems found (2)", "no push API key for environment `test`", "Running: no",
                             "does not accept connections", "APPSIGNAL_OTLP_ENDPOINT=\"localhost:4318\" is not an http",
                             'ignore_actions: ["Health#check"] (from file)', "log_level: \"info\" (from default)",
                             'app name: "spec-app"', "name: \"spec-app\" (from env)")
      expect(File.exist?(File.join(@app_dir, "appsignal-diagnose.json"))).to be(false)

      _, err, code = cli("demo", env: env)
      expect(code).to eq(1)
      expect(err).to include("AppSignal did not start", "no push API key")

      responder = AuthResponder.new(401)
      blocker = File.join(@working_dir, "a-file")
      File.write(blocker, "")
      bad = env.merge("APPSIGNAL_PUSH_API_KEY" => CLI_SPEC_KEY, "APPSIGNAL_PUSH_API_ENDPOINT" => responder.endpoint,
                      "APPSIGNAL_WORKING_DIRECTORY_PATH" => File.join(blocker, "wd"))
      out, err, code = cli("diagnose", "--send-report", env: bad)
      responder.stop
      expect(code).to eq(1)
      expect(out).to include("push API key invalid", "does not exist and cannot be created")
      expect(out + err).not_to include(CLI_SPEC_KEY)
      default_report = File.join(@app_dir, "appsignal-diagnose.json")
      expect(out).to include("written to #{default_report}")
      # Exactly these two: an extension that failed to load (say) would be a third, and is reported first.
      problems = JSON.parse(File.read(default_report))["problems"]
      expect(problems).to match([start_with("push API key invalid"), include("does not exist and cannot be created")]),
                          "expected the invalid key and the working directory, got #{problems.inspect}"
    end

    it "reports an extension that did not load, and demo refuses with the reason" do
      env = appsignal_env(@receiver, @working_dir, "APPSIGNAL_PUSH_API_KEY" => CLI_SPEC_KEY,
                                                   "APPSIGNAL_EXTENSION_PATH" => "/nonexistent/appsignal_extension.so")
      out, _, code = cli("diagnose", env: env)
      expect(code).to eq(1)
      expect(out).to include("Extension loaded: false", "the AppSignal extension could not be loaded")

      _, err, code = cli("demo", env: env)
      expect(code).to eq(1)
      expect(err).to include("AppSignal did not start", "the AppSignal extension could not be loaded")

      _, err, code = cli("demo", env: env.merge("APPSIGNAL_EXTENSION_PATH" => nil, "APPSIGNAL_ACTIVE" => "false"))
      expect(code).to eq(1)
      expect(err).to include("not active for environment `test`")
    end

    it "flags an agent binary from another release" do
      # Stands in for an appsignal-agent left over from an older gem: only its --version answer matters here.
      other_agent = File.join(@app_dir, "appsignal-agent")
      File.write(other_agent, "#!/bin/sh\necho \"appsignal-agent 0.0.1-old\"\n")
      File.chmod(0o755, other_agent)
      env = appsignal_env(@receiver, @working_dir, "APPSIGNAL_PUSH_API_KEY" => CLI_SPEC_KEY,
                                                   "APPSIGNAL_AGENT_PATH" => other_agent)
      out, _, code = cli("diagnose", "--no-send-report", env: env)
      expect(code).to eq(1)
      expect(out).to include("Problems found (1)", "APPSIGNAL_AGENT_PATH")
      mismatch = /the agent at #{Regexp.escape(other_agent)} is version 0\.0\.1-old but the extension expects \d/
      expect(out).to match(mismatch)
    end
  end
end
