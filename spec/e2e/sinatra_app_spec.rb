# frozen_string_literal: true

require "spec_helper"
require_relative "integration_helpers"

# Sinatra under Puma, both ways users set it up, plus the libraries a Sinatra app
# talks to directly (pg without ActiveRecord, Redis, Net::HTTP).
RSpec.describe "Sinatra apps under Puma" do
  def start_app(rackup, extra_env = {})
    port = AppProcess.free_port
    env = appsignal_env(@receiver, @working_dir, { "APP_ENV" => "production" }.merge(extra_env))
    @apps << AppProcess.new(["puma", "-t", "1:2", "-b", "tcp://127.0.0.1:#{port}", rackup],
                            env: env, chdir: File.join(SpecPaths::ROOT, "spec/fixtures/sinatra_app"),
                            port: port).start
    @apps.last
  end

  before do
    @apps = []
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
  end

  after do |example|
    @apps.each(&:stop)
    @apps.each { |app| warn(app.output) } if example.exception
    stop_agent(@working_dir)
    @receiver.stop
    FileUtils.rm_rf(@working_dir)
  end

  context "with Appsignal.load(:sinatra), Appsignal.start and the Rack::Events handler" do
    before do
      pg_exec(<<~SQL)
        DROP TABLE IF EXISTS integ_sinatra_users;
        CREATE TABLE integ_sinatra_users (id serial PRIMARY KEY, name text);
        INSERT INTO integ_sinatra_users (name) VALUES ('alice');
      SQL
      @app = start_app("config.ru")
    end

    after { pg_exec("DROP TABLE IF EXISTS integ_sinatra_users") }

    it "names actions after the route pattern and records errors Sinatra rendered itself" do
      2.times { |i| expect(@app.get("/users/#{i}").body).to eq("user #{i}") }
      expect(@app.get("/boom").code).to eq("500")
      expect(@app.get("/nowhere").code).to eq("404")
      payloads = wait_for_actions(@receiver, "GET /users/:id" => 2, "GET /boom" => 1)

      expect(action_minutes(payloads, "GET /users/:id").map { |m| m["namespace"] }.uniq).to eq(["http_request"])
      expect(event_names(payloads, "GET /users/:id")).to include("process_request.rack", "process_action.sinatra")
      expect(error_count(payloads, "GET /users/:id")).to eq(0)
      expect(error_count(payloads, "GET /boom")).to eq(1)
      sample = samples_for(payloads, "GET /boom").find { |s| s["error"] }
      expect(sample["error"]).to include("name" => "ArgumentError", "message" => "boom from Sinatra")
      expect(sample["tags"]).to include("response_status" => "500")
      user = samples_for(payloads, "GET /users/:id").first
      expect(user["metadata"]).to include("method" => "GET", "path" => match(%r{\A/users/\d\z}))
      expect(PushReceiver.actions(payloads).map { |m| m["action"] }).not_to include(match(/nowhere/))
    end

    it "keeps a streaming response's transaction open until the body is closed" do
      expect(@app.get("/stream").body).to eq("chunk\n" * 3)
      payloads = wait_for_actions(@receiver, "GET /stream" => 1)
      expect(action_minutes(payloads, "GET /stream").sum { |m| m["total_duration_ms"] }).to be >= 290
    end

    it "records pg queries as sql.postgres with obfuscated SQL and re-raises pg errors" do
      expect(@app.get("/pg").body).to eq("rows 1 PG::UndefinedTable")
      payloads = wait_for_actions(@receiver, "GET /pg" => 1)
      events = sample_events(samples_for(payloads, "GET /pg").first).select { |e| e["name"] == "sql.postgres" }
      expect(events.map { |e| e["title"] }).to eq(%w[exec_params exec exec])
      expect(events[0]["body"]).to eq("SELECT id, name FROM integ_sinatra_users WHERE name = $1")
      expect(events[1]["body"]).to eq("SELECT count(*) FROM integ_sinatra_users WHERE name = ?")
      expect(events.map { |e| e["body"] }.join).not_to include("secret-literal", "alice")
    end

    it "records Redis commands with their arguments replaced by ?" do
      expect(@app.get("/redis").body).to eq("redis 12")
      payloads = wait_for_actions(@receiver, "GET /redis" => 1)
      events = sample_events(samples_for(payloads, "GET /redis").first).select { |e| e["name"] == "query.redis" }
      expect(events.map { |e| e["body"] }).to eq(["set ? ?", "get ?", "incr ?\nexpire ? ?"])
      expect(events.first["title"]).to eq("redis://127.0.0.1:6379/0")
      expect(@receiver.raw_bodies.map { |b| Zlib.gunzip(b) }.join).not_to include("secret-value")
    end

    it "records Net::HTTP requests titled with method and host only" do
      port = URI(@receiver.endpoint).port
      expect(@app.get("/outgoing?port=#{port}").body).to eq("outgoing 200")
      payloads = wait_for_actions(@receiver, "GET /outgoing" => 1)
      events = sample_events(samples_for(payloads, "GET /outgoing").first)
               .select { |e| e["name"] == "request.net_http" }
      expect(events.map { |e| e["title"] }).to eq(["GET http://127.0.0.1:#{port}"])
    end
  end

  context "with one `use Appsignal::Rack::SinatraInstrumentation` line in a classic app" do
    before do
      @app = start_app("classic.ru", "APPSIGNAL_INSTRUMENT_REDIS" => "false",
                                     "APPSIGNAL_INSTRUMENT_NET_HTTP" => "false")
    end

    it "starts AppSignal, names the route, and times streamed bodies until close" do
      expect(@app.get("/items/7").body).to eq("item 7")
      expect(@app.get("/stream").body).to eq("chunk\n" * 3)
      payloads = wait_for_actions(@receiver, "GET /items/:id" => 1, "GET /stream" => 1)
      expect(event_names(payloads, "GET /stream")).to include("process_action.sinatra", "process_response_body.rack")
      expect(action_minutes(payloads, "GET /stream").sum { |m| m["total_duration_ms"] }).to be >= 290
      expect(action_count(payloads, "GET /items/:id")).to eq(1)
    end

    it "leaves Redis and Net::HTTP alone when instrument_redis / instrument_net_http are false" do
      expect(@app.get("/redis").code).to eq("200")
      expect(@app.get("/outgoing?port=#{URI(@receiver.endpoint).port}").code).to eq("200")
      payloads = wait_for_actions(@receiver, "GET /redis" => 1, "GET /outgoing" => 1)
      names = event_names(payloads, "GET /redis") + event_names(payloads, "GET /outgoing")
      expect(names).to include("process_action.sinatra")
      expect(names).not_to include("query.redis", "request.net_http")
    end
  end
end
