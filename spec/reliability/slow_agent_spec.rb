# frozen_string_literal: true

require "spec_helper"
require "socket"
require_relative "support/reliability_helpers"

# Scenario 3: the agent stops reading (SIGSTOP: its socket fills, writes to it block)
# while the app pushes transactions as fast as it is asked to. The app never waits:
# per-call latency stays flat through the stop. What cannot be kept is dropped,
# counted by the extension and reported through the agent's health metric
# `transactions_dropped_by_extension`; everything else arrives: received + dropped
# equals what the app sent, exactly.
RSpec.describe "reliability: slow agent, full socket" do
  include ReliabilityHelpers

  before do
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
    @out_dir = Dir.mktmpdir("rel")
  end

  after do |example|
    Process.kill("CONT", @stopped) if @stopped && process_alive?(@stopped)
    warn(File.read(File.join(@out_dir, "loop.log"))) if example.exception && File.exist?(File.join(@out_dir,
                                                                                                   "loop.log"))
    stop_agent(@working_dir)
    @receiver.stop
    FileUtils.rm_rf([@working_dir, @out_dir])
  end

  def wait_for_agent(timeout)
    deadline = Time.now + timeout
    until (pid = lock_pid(@working_dir)) && socket_connectable?(@working_dir)
      raise "no agent came up for #{@working_dir}" if Time.now > deadline

      sleep 0.05
    end
    pid
  end

  # The latest `transactions_dropped_by_extension` gauge the agent reported.
  def reported_drops(payloads)
    points = agent_health(payloads)["transactions_dropped_by_extension"] || []
    points.map { |m| m["value"].to_f.round }.max || 0
  end

  it "never blocks the app, and counts and reports what it drops" do
    stopped_for = scale(6, 60)
    # After the stop: long enough for the extension's 10-second health report to
    # carry its final drop count.
    after_stop = 13
    action = "Reliability#slow_agent"
    loop_pid = spawn_loop(app_env(@receiver, @working_dir), @out_dir,
                          rate: 20_000, seconds: 2 + stopped_for + after_stop, action: action)
    agent = wait_for_agent(15)
    sleep 2
    Process.kill("STOP", agent)
    @stopped = agent
    sleep stopped_for
    Process.kill("CONT", agent)
    @stopped = nil
    wait_child(loop_pid, stopped_for + after_stop + 60)
    app = read_result(File.join(@out_dir, "result.json"))
    dropped = app["stats"]["transactions_dropped"]
    payloads = wait_for_count(@receiver, action, app["calls"] - dropped, 30)
    deadline = Time.now + 15
    payloads = @receiver.payloads until reported_drops(payloads) >= dropped || Time.now > deadline
    received = action_count(payloads, action)
    reported = reported_drops(payloads)
    per_second = app["max_ms_per_second"]
    figure("3 slow agent", "agent SIGSTOPped #{stopped_for}s at #{app["rate"].round}/s asked 20000/s; " \
                           "app p99 #{app["p99_ms"].round(3)} ms, max #{app["max_ms"].round(2)} ms, worst second " \
                           "#{per_second.max.to_f.round(2)} ms; sent #{app["calls"]}, received #{received}, " \
                           "dropped #{dropped} (reported by the agent: #{reported}), unaccounted " \
                           "#{app["calls"] - received - dropped}; same agent after: #{process_alive?(agent)}")

    expect(app["error_count"]).to eq(0), app["errors"].inspect
    expect(app["p99_ms"]).to be < 2.0
    expect(app["max_ms"]).to be < 100.0
    expect(dropped).to be > 0, "the stopped agent caused no back-pressure: the scenario did not happen"
    expect(received + dropped).to eq(app["calls"])
    expect(reported).to eq(dropped)
    expect(process_alive?(agent)).to be(true)
    expect(lock_pid(@working_dir)).to eq(agent)
  end
end
