# frozen_string_literal: true

require "spec_helper"
require "zlib"

# The walking skeleton, end to end: a real Rack app under a real Puma process with
# the gem, the agent it starts, and a Push API receiver decoding what arrives.
RACK_APP_CANARY = "rack-canary-9d41c"

RSpec.describe "a Rack app under Puma" do
  before do
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
    @port = AppProcess.free_port
    @app = AppProcess.new(
      ["puma", "-b", "tcp://127.0.0.1:#{@port}", "-t", "2:2", "config.ru"],
      env: appsignal_env(@receiver, @working_dir, "APPSIGNAL_FILTER_PARAMETERS" => "password"),
      chdir: File.join(SpecPaths::ROOT, "spec/fixtures/rack_app"),
      port: @port
    ).start
  end

  after do |example|
    @app.stop
    warn(@app.output) if example.exception
    stop_agent(@working_dir)
    @receiver.stop
    FileUtils.rm_rf(@working_dir)
  end

  it "reports every request with its action, duration and events" do
    3.times { expect(@app.get("/hello").code).to eq("200") }
    2.times { expect(@app.get("/slow").code).to eq("200") }
    # As Nginx sends it: seconds with milliseconds, 250 ms before the request reached the app.
    expect(@app.get("/boom?password=#{RACK_APP_CANARY}&q=1",
                    "X-Request-Start" => format("t=%.3f", Time.now.to_f - 0.25), "Accept" => "text/plain",
                    "Authorization" => "Bearer #{RACK_APP_CANARY}").code).to eq("500")

    payloads = @receiver.wait_for do |received|
      PushReceiver.actions(received).sum { |a| a["count"].to_i } >= 6
    end
    actions = PushReceiver.actions(payloads).group_by { |a| a["action"] }
    expect(actions.keys).to contain_exactly("HelloController#index", "HelloController#slow", "HelloController#boom")
    expect(actions["HelloController#index"].sum { |a| a["count"].to_i }).to eq(3)
    expect(actions["HelloController#slow"].sum { |a| a["count"].to_i }).to eq(2)
    expect(actions["HelloController#slow"].sum { |a| a["total_duration_ms"] }).to be >= 100
    expect(actions["HelloController#boom"].sum { |a| a["error_count"].to_i }).to eq(1)
    expect(actions.values.flatten.map { |a| a["namespace"] }.uniq).to eq(["http_request"])

    event_names = actions["HelloController#index"].flat_map { |a| a["events"].map { |e| e["name"] } }
    expect(event_names).to include("render.hello", "process_request_middleware.rack")

    error_sample = PushReceiver.samples(payloads).find { |s| s["action"] == "HelloController#boom" }
    expect(error_sample["error"]["name"]).to eq("ArgumentError")
    expect(error_sample["error"]["message"]).to eq("boom from the fixture")
    expect(error_sample["metadata"]).to include("method" => "GET", "path" => "/boom")
    expect(error_sample["queue_duration_ns"].to_i).to be_between(200_000_000, 5_000_000_000)
    expect(error_sample["headers"]).to include("HTTP_ACCEPT" => "text/plain", "REQUEST_METHOD" => "GET")
    expect(error_sample["headers"].keys).not_to include("HTTP_AUTHORIZATION")
    expect(error_sample["headers"]["REQUEST_URI"]).to eq("/boom?password=[FILTERED]&q=1")
    expect(JSON.parse(error_sample["params_json"])).to eq("password" => "[FILTERED]", "q" => "1")
    raw = @receiver.raw_bodies.map { |gz| Zlib::GzipReader.new(StringIO.new(gz)).read }.join.b
    expect(raw).not_to include(RACK_APP_CANARY)
  end

  it "sends what the Push API contract says: query, headers, gzip'd protobuf" do
    @app.get("/hello")
    @receiver.wait_for { |received| !PushReceiver.actions(received).empty? }
    request = @receiver.requests.find { |r| r["path_and_query"].start_with?("/1/transmit") }
    query = URI.decode_www_form(request["path_and_query"].split("?", 2).last).to_h
    expect(query).to include("api_key" => "test-push-api-key", "name" => "spec-app", "environment" => "test")
    expect(query.keys).to include("hostname", "gem_version")
    headers = request["headers"].to_h { |(k, v)| [k.downcase, v] }
    expect(headers).to include("content-type" => "application/x-protobuf", "content-encoding" => "gzip")
  end
end
