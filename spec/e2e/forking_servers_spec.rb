# frozen_string_literal: true

require "spec_helper"
require_relative "integration_helpers"
require "zlib"

# Preloading, forking servers: the gem starts in the master, workers inherit it.
# Every worker's transactions must arrive, each exactly once, and what the master
# recorded or started before forking must not be sent again by the workers.
RSpec.describe "forking servers with 2 workers" do
  before do
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
    @port = AppProcess.free_port
  end

  after do |example|
    @app&.stop
    warn(@app.output) if example.exception && @app
    stop_agent(@working_dir)
    @receiver.stop
    FileUtils.rm_rf(@working_dir)
  end

  def start(command)
    @app = AppProcess.new(command, env: appsignal_env(@receiver, @working_dir, "PORT" => @port.to_s),
                                   chdir: File.join(SpecPaths::ROOT, "spec/fixtures/forking_app"), port: @port).start
  end

  # Fresh connections until both workers answered; returns responses per pid.
  def hit_both_workers
    pids = Hash.new(0)
    200.times do
      response = @app.get("/")
      expect(response.code).to eq("200")
      pids[response.body.to_i] += 1
      break if pids.size >= 2 && pids.values.sum >= 20
    end
    expect(pids.size).to eq(2), "only #{pids.keys} answered"
    pids
  end

  def complete_preload_in_every_worker(pids)
    seen = {}
    200.times do
      response = @app.get("/complete_preload")
      pid = response.body.to_i
      pids[pid] += 1
      seen[pid] = true
      break if seen.size >= 2
    end
    expect(seen.size).to eq(2)
  end

  def expect_every_worker_reported_once(pids)
    expected = pids.transform_keys { |pid| "Forked#pid_#{pid}" }
    payloads = wait_for_actions(@receiver, expected.merge("Preload#completed_before_fork" => 1), 40)
    expected.each { |action, count| expect(action_count(payloads, action)).to eq(count), action }
    expect_tagged_with_pid(payloads, expected.keys.first)
    expect_nothing_sent_twice_after_exit(expected)
  end

  # The Puma and Unicorn hooks were installed without a line in the server's config
  # (unicorn.rb has no after_fork; no puma.rb at all) and ran in every worker.
  def expect_reporter_restarted_by_hook(pids)
    log = File.read(File.join(@working_dir, "appsignal.log"))
    pids.each_key { |pid| expect(log).to include("AppSignal reporter restarted after fork in process #{pid}") }
  end

  def expect_tagged_with_pid(payloads, action)
    expect(samples_for(payloads, action).first["tags"]).to include("process_id" => action[/\d+\z/])
    expect(event_names(payloads, action)).to include("work.forked")
  end

  # After the workers and master exited (and flushed) and two more intervals:
  # still exactly once, and the transaction open across the fork never.
  def expect_nothing_sent_twice_after_exit(expected)
    @app.stop
    sleep 2.5
    payloads = @receiver.payloads
    expected.each { |action, count| expect(action_count(payloads, action)).to eq(count), action }
    expect(action_count(payloads, "Preload#completed_before_fork")).to eq(1)
    expect(action_count(payloads, "Preload#open_across_fork")).to eq(0)
  end

  it "Puma in cluster mode (preload_app)" do
    start(["puma", "-w", "2", "--preload", "-t", "1:1", "-b", "tcp://127.0.0.1:#{@port}", "config.ru"])
    pids = hit_both_workers
    complete_preload_in_every_worker(pids)
    expect_reporter_restarted_by_hook(pids)
    expect_every_worker_reported_once(pids)
  end

  it "Unicorn (preload_app)" do
    start(["unicorn", "-c", "unicorn.rb", "config.ru"])
    pids = hit_both_workers
    complete_preload_in_every_worker(pids)
    expect_reporter_restarted_by_hook(pids)
    expect_every_worker_reported_once(pids)
  end
end

# The Rails app (no AppSignal code, config/appsignal.yml) preloaded in the master of
# Puma and Unicorn with 2 workers each: every worker's requests arrive exactly once,
# with their ActiveRecord SQL obfuscated.
RSpec.describe "a Rails app under forking servers with 2 workers" do
  before(:all) do
    pg_exec(<<~SQL)
      DROP TABLE IF EXISTS integ_rails_posts;
      CREATE TABLE integ_rails_posts (id bigserial PRIMARY KEY, title text NOT NULL,
                                      created_at timestamp, updated_at timestamp);
      INSERT INTO integ_rails_posts (title, created_at, updated_at) VALUES ('first', now(), now());
    SQL
  end

  after(:all) { pg_exec("DROP TABLE IF EXISTS integ_rails_posts") }

  before do
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
    @port = AppProcess.free_port
  end

  after do |example|
    @app&.stop
    warn(@app.output) if example.exception && @app
    stop_agent(@working_dir)
    @receiver.stop
    FileUtils.rm_rf(@working_dir)
  end

  def start(command)
    env = { "RAILS_ENV" => "production", "PORT" => @port.to_s,
            "APPSIGNAL_PUSH_API_ENDPOINT" => @receiver.endpoint, "APPSIGNAL_WORKING_DIRECTORY_PATH" => @working_dir,
            "APPSIGNAL_TRANSMISSION_INTERVAL" => "1", "APPSIGNAL_ENABLE_HOST_METRICS" => "false",
            "APPSIGNAL_LOG_PATH" => @working_dir }
    @app = AppProcess.new(command, env: env, chdir: File.join(SpecPaths::ROOT, "spec/fixtures/rails_app"),
                                   port: @port).start
  end

  def hit_both_workers
    pids = Hash.new(0)
    200.times do
      response = @app.get("/worker")
      expect(response.code).to eq("200")
      pids[response.body.to_i] += 1
      break if pids.size >= 2 && pids.values.sum >= 10
    end
    expect(pids.size).to eq(2), "only #{pids.keys} answered"
    pids
  end

  def expect_obfuscated_active_record_sql(payloads)
    sql = samples_for(payloads, "PostsController#worker").flat_map { |s| sample_events(s) }
                                                         .select { |e| e["name"] == "sql.active_record" }
    expect(sql.map { |e| e["body"] }).to include(a_string_matching(/WHERE \(title = \?\)/))
    expect(event_names(payloads, "PostsController#worker")).not_to include("sql.postgres")
    expect(@receiver.raw_bodies.map { |b| Zlib.gunzip(b) }.join).not_to include("'first'")
  end

  def expect_each_worker_reported_once_with_obfuscated_sql
    pids = hit_both_workers
    total = pids.values.sum
    payloads = wait_for_actions(@receiver, { "PostsController#worker" => total }, 40)
    expect(action_count(payloads, "PostsController#worker")).to eq(total)
    expect_obfuscated_active_record_sql(payloads)
    log = File.read(File.join(@working_dir, "appsignal.log"))
    pids.each_key { |pid| expect(log).to include("AppSignal reporter restarted after fork in process #{pid}") }
    @app.stop
    sleep 2.5
    expect(action_count(@receiver.payloads, "PostsController#worker")).to eq(total)
  end

  it "under Puma in cluster mode" do
    start(["puma", "-e", "production", "-w", "2", "--preload", "-t", "1:1", "-b", "tcp://127.0.0.1:#{@port}",
           "config.ru"])
    expect_each_worker_reported_once_with_obfuscated_sql
  end

  it "under Unicorn" do
    start(["unicorn", "-E", "production", "-c", "config/unicorn.rb", "config.ru"])
    expect_each_worker_reported_once_with_obfuscated_sql
  end
end
