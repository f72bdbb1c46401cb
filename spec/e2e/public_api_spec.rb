# frozen_string_literal: true

require "spec_helper"
require "zlib"
require "English"

# The public API in this process, through the real extension and agent, asserted on
# what the Push API receiver decoded (and, for leaks, on the raw bytes it received).
class IgnoredSpecError < StandardError; end
class IgnoredSpecSubclassError < IgnoredSpecError; end

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
                  "APPSIGNAL_IGNORE_NAMESPACES" => "ignored_namespace",
                  "APPSIGNAL_FILTER_PARAMETERS" => "password,secret",
                  "APPSIGNAL_FILTER_SESSION_DATA" => "session_token",
                  "APPSIGNAL_LOG_LEVEL" => "debug",
                  "APPSIGNAL_LOGGING_ENDPOINT" => @receiver.endpoint,
                  "APPSIGNAL_HOSTNAME" => "spec-host",
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

  def log_text
    File.read(File.join(@working_dir, "appsignal.log"))
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

  it "keeps ignored errors, ignored actions and ignored namespaces out" do
    Appsignal.monitor(action: "Api#ignored_error") { Appsignal.set_error(IgnoredSpecError.new("nope")) }
    Appsignal.monitor(action: "Ignored#action") { Appsignal.instrument("x.y") { nil } }
    Appsignal.monitor(action: "Api#in_ignored_namespace", namespace: "ignored_namespace") { nil }
    Appsignal.monitor(action: "Api#moved_to_ignored_namespace") { Appsignal.set_namespace("ignored_namespace") }
    Appsignal.send_error(IgnoredSpecError.new("sent but ignored")) { |t| t.set_action("Api#ignored_sent") }
    expect do
      Appsignal.monitor(action: "Api#ignored_subclass") { raise IgnoredSpecSubclassError, "by exact name only" }
    end.to raise_error(IgnoredSpecSubclassError)
    Appsignal.monitor(action: "Api#marker_after_ignored") { nil }
    sample_for("Api#marker_after_ignored")
    expect(sample_for("Api#ignored_subclass")["error"]).to include("name" => "IgnoredSpecSubclassError")
    samples = PushReceiver.samples(@receiver.payloads)
    expect(samples.select { |s| s["action"] == "Api#ignored_error" }.map { |s| s["error"] }).to all(be_nil)
    actions = PushReceiver.actions(@receiver.payloads).map { |a| a["action"] }
    expect(actions).to include("Api#ignored_error")
    expect(actions).not_to include("Ignored#action", "Api#in_ignored_namespace", "Api#moved_to_ignored_namespace",
                                   "Api#ignored_sent")
  end

  it "answers like the AppSignal gem: values, nil, and no-ops outside a transaction" do
    expect(Appsignal.monitor(action: "Api#returns") { :block_value }).to eq(:block_value)
    expect(Appsignal.instrument("outside.spec") { 42 }).to eq(42)
    expect(Appsignal.instrument_sql("sql.outside", "t", "SELECT 1") { :sql_value }).to eq(:sql_value)
    expect(Appsignal.set_error(RuntimeError.new("outside"))).to be_nil
    expect(Appsignal.set_error("not an exception")).to be_nil
    expect(Appsignal.send_error("not an exception either")).to be_nil
    expect(Appsignal.report_error(nil)).to be_nil
    expect(Appsignal.listen_for_error { :listened }).to eq(:listened)
    outside = [Appsignal.set_action("X#y"), Appsignal.set_namespace("x"), Appsignal.add_tags(a: 1),
               Appsignal.tag_request(a: 1), Appsignal.add_params(a: 1), Appsignal.add_session_data(a: 1),
               Appsignal.add_headers("HTTP_ACCEPT" => "x"), Appsignal.add_custom_data(a: 1),
               Appsignal.add_breadcrumb("c", "a")]
    expect(outside).to all(be_nil)
    expect(log_text).to include("Appsignal.set_error: no transaction is active, RuntimeError not recorded")
    expect(log_text).to include("Appsignal.send_error: cannot record an error: the given value is not an Exception")
    inside = Appsignal.monitor(action: "Api#returns_inside") do
      [Appsignal.set_error(RuntimeError.new("inside")), Appsignal.report_error(RuntimeError.new("second"))]
    end
    expect(inside).to eq([nil, nil])
  end

  it "sets the namespace and tags through set_namespace, tag_request and tag_job" do
    Appsignal.monitor(action: "Api#renamed") do
      Appsignal.set_namespace("admin")
      Appsignal.tag_request(locale: "en")
      Appsignal.tag_job("queue" => :mailers, "admin" => true)
      Appsignal.set_error(RuntimeError.new("so it is sampled")) { |t| t.add_tags(from_block: "yes") }
    end
    sample = sample_for("Api#renamed")
    expect(sample["namespace"]).to eq("admin")
    expect(sample["tags"]).to eq("locale" => "en", "queue" => "mailers", "admin" => "true", "from_block" => "yes")
    minute = PushReceiver.actions(@receiver.payloads).find { |a| a["action"] == "Api#renamed" }
    expect(minute["namespace"]).to eq("admin")
  end

  it "cuts tags, breadcrumbs and data beyond their limits, counts what was cut, and never raises" do
    Appsignal.monitor(action: "Api#limits") do
      Appsignal.add_tags(nil)
      Appsignal.add_tags("not a hash")
      Appsignal.add_tags((1..105).to_h { |i| ["tag_#{i}", i] })
      25.times { |i| Appsignal.add_breadcrumb("Spec", "crumb #{i}", "", "metadata that is not a hash") }
      Appsignal.add_breadcrumb(nil, nil, nil, nil)
      Appsignal.add_params("big" => "p" * 70_000)
      Appsignal.add_custom_data(nil)
      Appsignal.add_session_data(Object.new)
      Appsignal.set_error(RuntimeError.new("so it is sampled"))
    end
    sample = sample_for("Api#limits")
    expect(sample["tags"].length).to eq(100)
    expect(sample["metadata"]).to include("tags_dropped" => "5", "breadcrumbs_dropped" => "6")
    expect(sample["breadcrumbs"].length).to eq(20)
    expect(sample["breadcrumbs"].first["action"]).to eq("crumb 6")
    expect(JSON.parse(sample["params_json"])).to eq("_appsignal_truncated" => 70_010)
    expect(JSON.parse(sample["session_data_json"])).to eq("#<Object>")
  end

  it "attaches tags, params, session data, custom data and breadcrumbs, filtering secrets at any depth" do
    Appsignal.monitor(action: "Api#data") do
      Appsignal.add_tags(user_id: 7, plan: :pro, ignored: { nested: 1 })
      Appsignal.add_params("user" => { "password" => PublicApiCanaries::PASSWORD, "name" => "Ann" },
                           "items" => [{ "secret" => PublicApiCanaries::PASSWORD }])
      Appsignal.add_session_data("cart" => 3, "session_token" => PublicApiCanaries::PASSWORD)
      Appsignal.add_headers("HTTP_ACCEPT" => "text/html",
                            "HTTP_AUTHORIZATION" => "Bearer #{PublicApiCanaries::PASSWORD}",
                            "HTTP_COOKIE" => "session=#{PublicApiCanaries::PASSWORD}")
      Appsignal.add_custom_data("stack" => %w[a b])
      Appsignal.add_breadcrumb("Network", "GET /api", "ok", { "status" => 200 })
      Appsignal.set_error(RuntimeError.new("so it is sampled"))
    end
    sample = sample_for("Api#data")
    expect(sample["tags"]).to eq("user_id" => "7", "plan" => "pro")
    expect(JSON.parse(sample["params_json"])).to eq(
      "user" => { "password" => "[FILTERED]", "name" => "Ann" }, "items" => [{ "secret" => "[FILTERED]" }]
    )
    expect(JSON.parse(sample["session_data_json"])).to eq("cart" => 3, "session_token" => "[FILTERED]")
    expect(sample["headers"]).to eq("HTTP_ACCEPT" => "text/html")
    expect(JSON.parse(sample["custom_data_json"])).to eq("stack" => %w[a b])
    expect(sample["breadcrumbs"].first).to include("category" => "Network", "action" => "GET /api")
    expect(raw_payload_text).not_to include(PublicApiCanaries::PASSWORD)
  end

  it "sends no params or session data when send_params / send_session_data are off" do
    Appsignal.config.set_from_code(:send_params, false)
    Appsignal.config.set_from_code(:send_session_data, false)
    Appsignal.monitor(action: "Api#no_params") do
      Appsignal.add_params("q" => PublicApiCanaries::PASSWORD)
      Appsignal.add_session_data("s" => PublicApiCanaries::PASSWORD)
      Appsignal.set_error(RuntimeError.new("so it is sampled"))
    end
    sample = sample_for("Api#no_params")
    expect([sample["params_json"].to_s, sample["session_data_json"].to_s]).to eq(["", ""])
    expect(raw_payload_text).not_to include(PublicApiCanaries::PASSWORD)
  ensure
    Appsignal.config.set_from_code(:send_params, true)
    Appsignal.config.set_from_code(:send_session_data, true)
  end

  it "obfuscates SQL bodies before they leave the process" do
    Appsignal.monitor(action: "Api#sql") do
      Appsignal.instrument_sql("sql.custom", "Find user",
                               "SELECT * FROM users WHERE token = '#{PublicApiCanaries::SQL}' AND id = 42")
      # Cut to the body limit inside a literal: the unterminated rest is still a literal.
      Appsignal.instrument_sql("sql.long", "t" * 5_000,
                               "SELECT * FROM t WHERE a = '#{"x" * 9_980}#{PublicApiCanaries::SQL}#{"y" * 100}'")
      Appsignal.instrument("plain.long", "Long body", "b" * 20_000)
      Appsignal.set_error(RuntimeError.new("so it is sampled"))
    end
    events = sample_for("Api#sql")["events"]
    event = events.find { |e| e["name"] == "sql.custom" }
    expect(event["title"]).to eq("Find user")
    expect(event["body"]).not_to include(PublicApiCanaries::SQL)
    expect(event["body"]).not_to include("42")
    long = events.find { |e| e["name"] == "sql.long" }
    expect([long["title"].bytesize, long["body"]]).to eq([1_000, "SELECT * FROM t WHERE a = ?"])
    expect(events.find { |e| e["name"] == "plain.long" }["body"].bytesize).to eq(10_000)
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

  it "runs a nested monitor inside the outer transaction, as the AppSignal gem does, and says so once" do
    values = []
    output = capture_stdout do
      Appsignal.monitor(action: "Api#outer_monitor") do
        2.times do
          values << Appsignal.monitor(action: "Api#inner_monitor", namespace: "inner") do
            Appsignal.instrument("inner_monitor.spec") { :inner_value }
          end
        end
        Appsignal.set_error(RuntimeError.new("so it is sampled"))
      end
    end
    expect(values).to eq(%i[inner_value inner_value])
    sample = sample_for("Api#outer_monitor")
    expect(sample["namespace"]).to eq("http_request")
    expect(sample["events"].count { |e| e["name"] == "inner_monitor.spec" }).to eq(2)
    expect(PushReceiver.actions(@receiver.payloads).map { |a| a["action"] }).not_to include("Api#inner_monitor")
    expect(output.scan("appsignal WARNING: Appsignal.monitor was called inside another transaction").length).to eq(1)
    expect(log_text.scan("Appsignal.monitor was called inside another transaction").length).to eq(1)
    expect(Appsignal::Transaction.current?).to be(false)
  end

  def capture_stdout
    saved = $stdout
    $stdout = StringIO.new
    yield
    $stdout.string
  ensure
    $stdout = saved
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

  # The agent sends each distribution's histogram (proto/src/histogram.rs: log buckets of
  # ratio 1.04 above 0.001); percentiles read back from it are within a few percent.
  def histogram_quantile(histogram, quantile)
    buckets = (histogram["buckets"] || {}).map { |index, count| [index.to_i, count.to_i] }.sort
    rank = [(quantile * (buckets.sum(&:last) + histogram["zero_count"].to_i)).ceil, 1].max
    seen = histogram["zero_count"].to_i
    buckets.each do |index, count|
      seen += count
      return 0.001 * (1.04**(index - 0.5)) if seen >= rank
    end
  end

  it "aggregates distributions with percentiles in the agent" do
    (1..100).to_a.shuffle.each { |value| Appsignal.add_distribution_value("api.percentiles", value, kind: "p") }
    Appsignal.flush
    payloads = @receiver.wait_for do |received|
      received.flat_map { |p| p["metrics"] || [] }.any? { |m| m["name"] == "api.percentiles" }
    end
    metric = payloads.flat_map { |p| p["metrics"] || [] }.find { |m| m["name"] == "api.percentiles" }
    expect([metric["count"], metric["min"], metric["max"], metric["tags"]]).to eq([100, 1.0, 100.0, { "kind" => "p" }])
    expect(histogram_quantile(metric["histogram"], 0.5)).to be_within(2.5).of(50)
    expect(histogram_quantile(metric["histogram"], 0.95)).to be_within(4).of(95)
  end

  it "keeps working in a child forked without any hook, sending nothing of the parent's twice" do
    Appsignal.monitor(action: "Fork#completed_before") { nil }
    open_across = Appsignal::Transaction.new("background_job")
    open_across.set_action("Fork#open_across")
    child = fork do
      open_across.complete # the parent's: the child must not send it
      Appsignal.monitor(action: "Fork#child") { Appsignal.instrument("work.child") { Process.pid } }
      Appsignal.increment_counter("fork.child_counter", 1)
      Appsignal.stop
      exit!(0)
    end
    Process.wait(child)
    expect($CHILD_STATUS.exitstatus).to eq(0)
    open_across.complete
    Appsignal.monitor(action: "Fork#parent_after") { nil }
    Appsignal.flush
    expected = { "Fork#child" => 1, "Fork#parent_after" => 1, "Fork#completed_before" => 1, "Fork#open_across" => 1 }
    count = lambda do |received, action|
      PushReceiver.actions(received).select { |a| a["action"] == action }.sum { |a| a["count"].to_i }
    end
    @receiver.wait_for { |received| expected.all? { |action, n| count.call(received, action) >= n } }
    sleep 2.5 # two more transmission intervals: nothing arrives a second time
    payloads = @receiver.payloads
    expect(expected.keys.to_h { |action| [action, count.call(payloads, action)] }).to eq(expected)
    counter = payloads.flat_map { |p| p["metrics"] || [] }.select { |m| m["name"] == "fork.child_counter" }
    expect(counter.sum { |m| m["value"] }).to eq(1.0)
  end

  it "reports the configured revision and hostname" do
    Appsignal.monitor(action: "Api#revision") { nil }
    Appsignal.flush
    payloads = @receiver.wait_for { |received| received.any? { |p| (p["revisions"] || []).include?("rev-123") } }
    expect(payloads.map { |p| p["hostname"] }.uniq).to eq(["spec-host"])
    query = @receiver.requests.map { |r| URI.decode_www_form(r["path_and_query"].split("?", 2).last.to_s).to_h }
    expect(query.map { |q| q["hostname"] }.compact.uniq).to eq(["spec-host"])
  end

  it "sends cron check-ins as start and finish events sharing a digest" do
    value = Appsignal::CheckIn.cron("nightly-report") { :done }
    expect(value).to eq(:done)
    expect { Appsignal::CheckIn.cron("failing-report") { raise ArgumentError, "task failed" } }
      .to raise_error(ArgumentError, "task failed")
    deadline = Time.now + 10
    received = []
    until received.length >= 3 || Time.now > deadline
      sleep 0.1
      received = JSON.parse(Net::HTTP.get(URI("#{@receiver.endpoint}/__check_ins")))
    end
    failing = received.select { |e| e["identifier"] == "failing-report" }
    expect(failing.map { |e| e["kind"] }).to eq(["start"]) # no finish: the run shows as failed
    events = received - failing
    expect(events.map { |e| e["kind"] }).to eq(%w[start finish])
    expect(events.map { |e| e["identifier"] }.uniq).to eq(["nightly-report"])
    expect(events.map { |e| e["digest"] }.uniq.length).to eq(1)
    expect(events.first["check_in_type"]).to eq("cron")
  end
end
