# frozen_string_literal: true

require "spec_helper"

# The walking skeleton, end to end: a real Rack app under a real Puma process with
# the gem, the agent it starts, and a Push API receiver decoding what arrives.
RSpec.describe "a Rack app under Puma" do
  before do
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
    @port = AppProcess.free_port
    @app = AppProcess.new(
      ["puma", "-b", "tcp://127.0.0.1:#{@port}", "-t", "2:2", "config.ru"],
      env: appsignal_env(@receiver, @working_dir),
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
    expect(@app.get("/boom").code).to eq("500")

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
