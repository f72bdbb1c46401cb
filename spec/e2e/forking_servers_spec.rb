# frozen_string_literal: true

require "spec_helper"
require_relative "integration_helpers"

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
    expect_every_worker_reported_once(pids)
  end

  it "Unicorn (preload_app)" do
    start(["unicorn", "-c", "unicorn.rb", "config.ru"])
    pids = hit_both_workers
    complete_preload_in_every_worker(pids)
    expect_every_worker_reported_once(pids)
  end
end
