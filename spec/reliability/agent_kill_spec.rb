# frozen_string_literal: true

require "spec_helper"
require "socket"
require_relative "support/reliability_helpers"

# Scenario 1: the agent is SIGKILLed every few seconds while an app sends about
# 1 000 transactions/s. The app sees no error and no latency spike, a new agent is up
# within about a second, at most the in-flight batch is lost per kill (counted
# exactly), nothing is duplicated, no zombie or stale lock is left.
RSpec.describe "reliability: agent killed under load" do
  include ReliabilityHelpers

  RATE = 1_000
  # Per kill: what the agent accepted but had not yet journaled (journal written
  # every 100 ms) plus one frame the worker had written: 0.2 s of traffic + 256.
  LOSS_PER_KILL = (RATE * 0.2).to_i + 256

  before do
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
    @out_dir = Dir.mktmpdir("rel")
  end

  after do |example|
    warn(File.read(File.join(@out_dir, "loop.log"))) if example.exception && File.exist?(File.join(@out_dir, "loop.log"))
    stop_agent(@working_dir)
    @receiver.stop
    FileUtils.rm_rf([@working_dir, @out_dir])
  end

  def wait_for_new_agent(old_pid, timeout)
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    deadline = started + timeout
    while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      pid = lock_pid(@working_dir)
      if pid && pid != old_pid && process_alive?(pid) && socket_connectable?(@working_dir)
        return [pid, Process.clock_gettime(Process::CLOCK_MONOTONIC) - started]
      end
      sleep 0.01
    end
    [nil, timeout]
  end

  it "keeps the app unaffected and loses at most the in-flight batch per kill" do
    seconds = scale(14, 150)
    kill_every = 3.0
    action = "Reliability#agent_kill"
    result = File.join(@out_dir, "result.json")
    env = appsignal_env(@receiver, @working_dir, "APPSIGNAL_AGENT_PATH" => SpecPaths.agent)
    loop_pid = spawn_loop(env, rate: RATE, seconds: seconds, action: action, result: result,
                               log: File.join(@out_dir, "loop.log"))
    first_pid, = wait_for_new_agent(nil, 15)
    expect(first_pid).not_to be_nil, "no agent came up for #{@working_dir}"

    relaunches = []
    pid = first_pid
    sleep kill_every
    while Process.wait(loop_pid, Process::WNOHANG).nil?
      break if File.exist?(result)

      Process.kill("KILL", pid)
      pid, took = wait_for_new_agent(pid, 8)
      relaunches << took
      break unless pid

      sleep kill_every
    end
    Process.wait(loop_pid) unless File.exist?(result) && !process_alive?(loop_pid)
    app = read_result(result)

    payloads = wait_for_count(@receiver, action, app["calls"], 20)
    received = action_count(payloads, action)
    lost = app["calls"] - received
    kills = relaunches.length
    agents = agents_for(@working_dir)
    zombies = agent_or_app_zombies([loop_pid])
    figure("1 agent SIGKILL", "#{kills} kills in #{app["seconds"].round(1)}s at #{app["rate"].round}/s; " \
                              "relaunch max #{(relaunches.max.to_f * 1000).round} ms, " \
                              "mean #{(relaunches.sum / [kills, 1].max * 1000).round} ms; app p99 " \
                              "#{app["p99_ms"].round(3)} ms, max #{app["max_ms"].round(2)} ms; " \
                              "sent #{app["calls"]}, received #{received}, lost #{lost} " \
                              "(#{(lost.to_f / [kills, 1].max).round(1)}/kill, bound #{LOSS_PER_KILL}); " \
                              "ext dropped #{app["stats"]["transactions_dropped"]}; duplicates " \
                              "#{duplicate_payload_ids(payloads).length}; agents now #{agents.length}; " \
                              "zombies #{zombies.length}")

    expect(app["error_count"]).to eq(0), app["errors"].inspect
    expect(kills).to be >= 2
    expect(relaunches.max).to be <= 1.5
    expect(app["p99_ms"]).to be < 2.0
    expect(app["max_ms"]).to be < 100.0
    expect(lost).to be >= 0
    expect(lost).to be <= kills * LOSS_PER_KILL
    expect(duplicate_payload_ids(payloads)).to be_empty
    expect(zombies).to be_empty
    expect(agents.length).to be <= 1
    lock = lock_pid(@working_dir)
    expect(lock.nil? || process_alive?(lock)).to be(true), "stale agent.lock names dead pid #{lock}"
  end
end
