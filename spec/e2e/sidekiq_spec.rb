# frozen_string_literal: true

require "spec_helper"
require "securerandom"
require "sidekiq"
require_relative "integration_helpers"

# A real Sidekiq 6 server process on the local Redis with no AppSignal code in the
# workers: the gem starts itself and installs its server middleware.
RSpec.describe "a Sidekiq server process" do
  let(:redis_url) { "redis://127.0.0.1:6379/11" }

  before do
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
    @queue = "integ_#{SecureRandom.hex(4)}"
    Sidekiq.configure_client { |config| config.redis = { url: redis_url } }
    env = appsignal_env(@receiver, @working_dir, "REDIS_URL" => redis_url, "APPSIGNAL_FILTER_PARAMETERS" => "password")
    @sidekiq = AppProcess.new(["sidekiq", "-r", "./worker.rb", "-q", @queue, "-c", "2", "-e", "production"],
                              env: env, chdir: File.join(SpecPaths::ROOT, "spec/fixtures/sidekiq_app")).start
  end

  after do |example|
    @sidekiq.stop
    warn(@sidekiq.output) if example.exception
    stop_agent(@working_dir)
    @receiver.stop
    FileUtils.rm_rf(@working_dir)
  end

  def push(klass, args, extra = {})
    Sidekiq::Client.push({ "queue" => @queue, "class" => klass, "args" => args }.merge(extra))
  end

  it "reports each job as a background_job transaction with metadata, filtered params and queue time" do
    jid = push("GreetingWorker", ["alice", { "password" => "hunter2", "sleep" => 0.2 }])
    push("GreetingWorker", ["bob", { "sleep" => 0 }])
    payloads = wait_for_actions(@receiver, { "GreetingWorker#perform" => 2 }, 40)

    minutes = action_minutes(payloads, "GreetingWorker#perform")
    expect(minutes.map { |m| m["namespace"] }.uniq).to eq(["background_job"])
    expect(event_names(payloads, "GreetingWorker#perform")).to include("perform_job.sidekiq", "query.redis")
    sample = samples_for(payloads, "GreetingWorker#perform").find { |s| s["metadata"]["job_id"] == jid }
    expect(sample["metadata"]).to include("queue" => @queue, "job_id" => jid)
    expect(sample_params(sample)).to eq(["alice", { "password" => "[FILTERED]", "sleep" => 0.2 }])
    expect(sample["queue_duration_ns"].to_i).to be > 0
    # A job that opens a pool connection first records its `select ?` (the db index).
    redis = sample_events(sample).select { |e| e["name"] == "query.redis" }.map { |e| e["body"] }
    expect(redis).to include("set ? ? ? ?")
    expect(redis - ["set ? ? ? ?", "select ?"]).to be_empty
  end

  it "records a job's error, re-raises it so Sidekiq retries, and reports the retry" do
    key = "integ:sidekiq:flaky:#{SecureRandom.hex(4)}"
    push("FlakyWorker", [key])
    payloads = wait_for_actions(@receiver, { "FlakyWorker#perform" => 2 }, 40)

    expect(error_count(payloads, "FlakyWorker#perform")).to eq(1)
    samples = samples_for(payloads, "FlakyWorker#perform")
    failed = samples.find { |s| s["error"] }
    expect(failed["error"]).to include("name" => "IOError", "message" => "flaky failure on attempt 1")
    expect(failed["metadata"]).not_to include("retry_count")
    retried = samples.find { |s| s["error"].nil? || s["error"]["name"].to_s.empty? }
    expect(retried["metadata"]).to include("retry_count" => "0", "queue" => @queue)
    expect(Sidekiq.redis { |redis| redis.get(key) }).to eq("2")
  end
end
