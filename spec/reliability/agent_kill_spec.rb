# frozen_string_literal: true

require "spec_helper"
require "socket"
require_relative "support/reliability_helpers"

# Scenario 1: the agent is SIGKILLed every few seconds while an app sends about
# 1 000 transactions/s. The app sees no error and no latency spike, a new agent is up
# within about a second, at most the in-flight batch is lost per kill (counted
# exactly), nothing is counted twice, no zombie or stale lock is left. The one
# duplicate the agent cannot rule out (a payload accepted just before the kill and
# sent again by the next agent) carries the same payload_id, the Push API's
# deduplication key: it is reported as "resent" and counted once.
RSpec.describe "reliability: agent killed under load" do
  include ReliabilityHelpers

  # Per kill: what the agent accepted but had not yet journaled (journal written
  # every 100 ms) plus one frame the worker had written: 0.2 s of traffic + 256.
  def loss_per_kill
    (ReliabilityHelpers::AGENT_KILL_RATE * 0.2).to_i + 256
  end

  before do
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
    @out_dir = Dir.mktmpdir("rel")
  end

  after do |example|
    warn(File.read(File.join(@out_dir, "loop.log"))) if example.exception && File.exist?(File.join(@out_dir,
                                                                                                   "loop.log"))
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
    env = app_env(@receiver, @working_dir)
    loop_pid = spawn_loop(env, @out_dir, rate: ReliabilityHelpers::AGENT_KILL_RATE,
                                         seconds: seconds, action: action)
    first_pid, = wait_for_new_agent(nil, 15)
    expect(first_pid).not_to be_nil, "no agent came up for #{@working_dir}"

    relaunches = []
    killed = []
    pid = first_pid
    sleep kill_every
    while (loop_status = Process.wait2(loop_pid, Process::WNOHANG)).nil?
      break if File.exist?(result)

      Process.kill("KILL", pid)
      killed << pid
      pid, took = wait_for_new_agent(pid, 8)
      relaunches << took
      break unless pid

      sleep kill_every
    end
    loop_status ||= wait_child(loop_pid, seconds + 30)
    expect(File.exist?(result)).to be(true), "the app process died: #{loop_status.inspect}"
    app = read_result(result)

    payloads = wait_for_count(@receiver, action, app["calls"], 20)
    # A payload the Push API accepted just before the kill, while its file was still
    # in payloads/, is sent again by the next agent under the same payload_id: the
    # key a Push API deduplicates on. Counted as resent; counted once for the totals.
    resent = duplicate_payload_ids(payloads)
    differing = payloads.group_by { |p| p["payload_id"] }.select { |_, same| same.uniq.length > 1 }.keys
    payloads = payloads.uniq { |p| p["payload_id"] }
    received = action_count(payloads, action)
    lost = app["calls"] - received
    kills = relaunches.length
    agents = agents_for(@working_dir)
    zombies = lingering_zombies([loop_pid], killed)
    figure("1 agent SIGKILL", "#{kills} kills in #{app["seconds"].round(1)}s at #{app["rate"].round}/s; " \
                              "relaunch max #{(relaunches.max.to_f * 1000).round} ms, " \
                              "mean #{(relaunches.sum / [kills, 1].max * 1000).round} ms; app p99 " \
                              "#{app["p99_ms"].round(3)} ms, max #{app["max_ms"].round(2)} ms; " \
                              "sent #{app["calls"]}, received #{received}, lost #{lost} " \
                              "(#{(lost.to_f / [kills, 1].max).round(1)}/kill, bound #{loss_per_kill}); " \
                              "ext dropped #{app["stats"]["transactions_dropped"]}; payloads resent with the same id " \
                              "#{resent.length}, differing #{differing.length}; agents now #{agents.length}; " \
                              "zombies #{zombies.length}")

    expect(app["error_count"]).to eq(0), app["errors"].inspect
    expect(kills).to be >= 2
    expect(relaunches.max).to be <= 1.5
    expect(app["p99_ms"]).to be < 2.0
    expect(app["max_ms"]).to be < 100.0
    # Nothing counted twice: payloads with new ids holding data already sent (a
    # journal segment replayed after its payload was stored) would make this negative.
    expect(lost).to be >= 0, "#{-lost} transactions counted twice"
    expect(lost).to be <= kills * loss_per_kill
    expect(differing).to be_empty, "payload ids sent twice with different content: #{differing}"
    expect(zombies).to be_empty
    expect(agents.length).to be <= 1
    lock = lock_pid(@working_dir)
    expect(lock.nil? || process_alive?(lock)).to be(true), "stale agent.lock names dead pid #{lock}"
  end
end
