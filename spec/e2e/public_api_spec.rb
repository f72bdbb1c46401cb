# frozen_string_literal: true

require "spec_helper"
require "zlib"

# The public API in this process, through the real extension and agent, asserted on
# what the Push API receiver decoded (and, for leaks, on the raw bytes it received).
class IgnoredSpecError < StandardError; end

module PublicApiCanaries
  PASSWORD = "canary-password-7f3a91"
  SQL = "canary-sql-literal-55e2"
end

RSpec.describe "the public API, end to end" do
  before(:all) do
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
    @saved_env = ENV.to_h
    appsignal_env(@receiver, @working_dir,
                  "APPSIGNAL_IGNORE_ERRORS" => "IgnoredSpecError",
                  "APPSIGNAL_IGNORE_ACTIONS" => "Ignored#action",
                  "APPSIGNAL_FILTER_PARAMETERS" => "password,secret",
                  "APPSIGNAL_LOGGING_ENDPOINT" => @receiver.endpoint,
                  "APPSIGNAL_REVISION" => "rev-123").each { |key, value| ENV[key] = value }
    Appsignal.configure(root_path: SpecPaths::ROOT)
    raise "AppSignal did not start" unless Appsignal.start
  end

  after(:all) do
    Appsignal.stop
    stop_agent(@working_dir)
    @receiver.stop
    ENV.replace(@saved_env)
    FileUtils.rm_rf(@working_dir)
  end

  def sample_for(action)
    Appsignal.flush
    payloads = @receiver.wait_for { |received| PushReceiver.samples(received).any? { |s| s["action"] == action } }
    PushReceiver.samples(payloads).find { |s| s["action"] == action }
  end

  def raw_payload_text
    @receiver.raw_bodies.map { |gz| Zlib::GzipReader.new(StringIO.new(gz)).read }.join
  end

  it "records an error raised in monitor, re-raises it unchanged, with its cause chain" do
    raised = nil
    begin
      Appsignal.monitor(action: "Api#error", namespace: "background_job") do
        raise KeyError, "inner cause"
      rescue KeyError
        raise ArgumentError, "outer error"
      end
    rescue ArgumentError => e
      raised = e
    end
    expect(raised.message).to eq("outer error")
    sample = sample_for("Api#error")
    expect(sample["namespace"]).to eq("background_job")
    expect(sample["error"]["name"]).to eq("ArgumentError")
    expect(sample["error"]["message"]).to eq("outer error")
    expect(sample["error"]["backtrace"].first).to start_with("spec/e2e/public_api_spec.rb")
    expect(sample["error"]["causes"].map { |c| c["name"] }).to eq(["KeyError"])
  end

  it "sends send_error in its own transaction, and report_error on the current one" do
    Appsignal.monitor(action: "Api#outer") do
      Appsignal.send_error(RuntimeError.new("sent alone")) do |transaction|
        transaction.set_action("Api#sent_alone")
        transaction.set_namespace("custom")
        transaction.add_tags(origin: "block")
      end
      Appsignal.report_error(RuntimeError.new("reported on current"))
    end
    Appsignal.report_error(RuntimeError.new("reported without a transaction")) { |t| t.set_action("Api#orphan") }

    alone = sample_for("Api#sent_alone")
    expect(alone).to include("namespace" => "custom")
    expect(alone["tags"]).to include("origin" => "block")
    expect(alone["error"]["message"]).to eq("sent alone")
    expect(sample_for("Api#outer")["error"]["message"]).to eq("reported on current")
    expect(sample_for("Api#orphan")["error"]["message"]).to eq("reported without a transaction")
  end

  it "keeps ignored errors and ignored actions out" do
    Appsignal.monitor(action: "Api#ignored_error") { Appsignal.set_error(IgnoredSpecError.new("nope")) }
    Appsignal.monitor(action: "Ignored#action") { Appsignal.instrument("x.y") { nil } }
    Appsignal.monitor(action: "Api#marker_after_ignored") { nil }
    sample_for("Api#marker_after_ignored")
    samples = PushReceiver.samples(@receiver.payloads)
    expect(samples.select { |s| s["action"] == "Api#ignored_error" }.map { |s| s["error"] }).to all(be_nil)
    expect(PushReceiver.actions(@receiver.payloads).map { |a| a["action"] }).not_to include("Ignored#action")
  end

  it "attaches tags, params, session data, custom data and breadcrumbs, filtering secrets at any depth" do
    Appsignal.monitor(action: "Api#data") do
      Appsignal.add_tags(user_id: 7, plan: :pro, ignored: { nested: 1 })
      Appsignal.add_params("user" => { "password" => PublicApiCanaries::PASSWORD, "name" => "Ann" },
                           "items" => [{ "secret" => PublicApiCanaries::PASSWORD }])
      Appsignal.add_session_data("cart" => 3)
      Appsignal.add_custom_data("stack" => %w[a b])
      Appsignal.add_breadcrumb("Network", "GET /api", "ok", { "status" => 200 })
      Appsignal.set_error(RuntimeError.new("so it is sampled"))
    end
    sample = sample_for("Api#data")
    expect(sample["tags"]).to eq("user_id" => "7", "plan" => "pro")
    expect(JSON.parse(sample["params_json"])).to eq(
      "user" => { "password" => "[FILTERED]", "name" => "Ann" }, "items" => [{ "secret" => "[FILTERED]" }]
    )
    expect(JSON.parse(sample["session_data_json"])).to eq("cart" => 3)
    expect(JSON.parse(sample["custom_data_json"])).to eq("stack" => %w[a b])
    expect(sample["breadcrumbs"].first).to include("category" => "Network", "action" => "GET /api")
    expect(raw_payload_text).not_to include(PublicApiCanaries::PASSWORD)
  end

  it "obfuscates SQL bodies before they leave the process" do
    Appsignal.monitor(action: "Api#sql") do
      Appsignal.instrument_sql("sql.custom", "Find user",
                               "SELECT * FROM users WHERE token = '#{PublicApiCanaries::SQL}' AND id = 42")
      Appsignal.set_error(RuntimeError.new("so it is sampled"))
    end
    event = sample_for("Api#sql")["events"].find { |e| e["name"] == "sql.custom" }
    expect(event["title"]).to eq("Find user")
    expect(event["body"]).not_to include(PublicApiCanaries::SQL)
    expect(event["body"]).not_to include("42")
    expect(raw_payload_text).not_to include(PublicApiCanaries::SQL)
  end

  it "nests events and cuts those beyond the per-transaction cap without failing" do
    Appsignal.monitor(action: "Api#many_events") do
      Appsignal.instrument("outer.spec") { Appsignal.instrument("inner.spec") { sleep 0.002 } }
      2_100.times { Appsignal.instrument("tiny.spec") { nil } }
      Appsignal.set_error(RuntimeError.new("so it is sampled"))
    end
    sample = sample_for("Api#many_events")
    inner, outer = sample["events"].first(2)
    expect([inner["name"], inner["depth"], outer["name"], outer["depth"]]).to eq(["inner.spec", 1, "outer.spec", 0])
    expect(outer["child_duration_ns"]).to eq(inner["duration_ns"])
    expect(sample["events"].length).to eq(2_000)
    expect(sample["events_dropped"]).to eq(102)
  end

  it "aggregates custom metrics from any thread, without a transaction" do
    threads = Array.new(4) { Thread.new { 5.times { Appsignal.increment_counter("api.jobs", 2, queue: "default") } } }
    threads.each(&:join)
    Appsignal.set_gauge("api.pool", 3, pool: "db")
    Appsignal.set_gauge("api.pool", 9, pool: "db")
    [10, 20, 30].each { |value| Appsignal.add_distribution_value("api.latency", value) }
    Appsignal.flush
    metrics = lambda do |received|
      received.flat_map { |p| p["metrics"] || [] }.select { |m| m["name"].to_s.start_with?("api.") }
    end
    @receiver.wait_for do |received|
      found = metrics.call(received)
      found.select { |m| m["name"] == "api.jobs" }.sum { |m| m["value"] } >= 40 &&
        found.any? { |m| m["name"] == "api.latency" }
    end
    found = metrics.call(@receiver.payloads)
    jobs = found.select { |m| m["name"] == "api.jobs" }
    expect(jobs.sum { |m| m["value"] }).to eq(40.0)
    expect(jobs.first["tags"]).to eq("queue" => "default")
    expect(found.select { |m| m["name"] == "api.pool" }.last["value"]).to eq(9.0)
    latency = found.find { |m| m["name"] == "api.latency" }
    expect([latency["count"], latency["min"], latency["max"], latency["value"]]).to eq([3, 10.0, 30.0, 60.0])
  end

  it "sends cron check-ins as start and finish events sharing a digest" do
    value = Appsignal::CheckIn.cron("nightly-report") { :done }
    expect(value).to eq(:done)
    deadline = Time.now + 10
    events = []
    until events.length >= 2 || Time.now > deadline
      sleep 0.1
      events = JSON.parse(Net::HTTP.get(URI("#{@receiver.endpoint}/__check_ins")))
    end
    expect(events.map { |e| e["kind"] }).to eq(%w[start finish])
    expect(events.map { |e| e["identifier"] }.uniq).to eq(["nightly-report"])
    expect(events.map { |e| e["digest"] }.uniq.length).to eq(1)
    expect(events.first["check_in_type"]).to eq("cron")
  end
end
