# frozen_string_literal: true

require "spec_helper"
require "socket"
require_relative "support/reliability_helpers"
require_relative "support/fixed_port_receiver"

# Scenario 2: the Push API answers 500, hangs, then refuses connections (process
# gone), then comes back. Every transaction reaches it afterwards, exactly once, and
# {working_dir}/payloads stays within its bound (100 files / 20 MB) meanwhile.
# Expiry after 30 minutes is proven at the unit level with the agent's injected clock:
# agent/src/spool (payloads_expire_after_thirty_minutes,
# the_oldest_are_dropped_past_the_file_and_byte_limits), run by `cargo test`.
RSpec.describe "reliability: Push API down, then back" do
  include ReliabilityHelpers

  before do
    @port = AppProcess.free_port
    @receiver = FixedPortReceiver.new(@port).start
    @working_dir = make_working_dir
    @out_dir = Dir.mktmpdir("rel")
  end

  after do
    stop_agent(@working_dir)
    @receiver&.stop
    FileUtils.rm_rf([@working_dir, @out_dir])
  end

  def spool_usage
    files = Dir[File.join(@working_dir, "payloads", "*")].select { |f| File.file?(f) }
    [files.length, files.sum { |f| File.size(f) rescue 0 }] # rubocop:disable Style/RescueModifier
  end

  it "delivers every payload once the Push API is back, within the spool bound meanwhile" do
    phase = scale(3, 40)
    action = "Reliability#outage"
    result = File.join(@out_dir, "result.json")
    env = app_env(@receiver, @working_dir)
    loop_pid = spawn_loop(env, @out_dir, rate: 300, seconds: (phase * 3) + 2, action: action)
    peak = [0, 0]
    watch = lambda do |seconds|
      deadline = Time.now + seconds
      while Time.now < deadline
        peak = peak.zip(spool_usage).map(&:max)
        sleep 0.1
      end
    end
    sleep 1
    @receiver.mode = "500"
    watch.call(phase)
    @receiver.mode = "hang"
    watch.call(phase)
    before_outage = action_count(@receiver.payloads, action)
    first_ids = @receiver.payloads.map { |p| p["payload_id"] }
    @receiver.stop
    watch.call(phase)
    kept = @receiver.instance_variable_get(:@port)
    @receiver = FixedPortReceiver.new(kept).start
    Process.wait(loop_pid)
    app = read_result(result)

    payloads = wait_for_count(@receiver, action, app["calls"] - before_outage, scale(40, 120))
    received = before_outage + action_count(payloads, action)
    ids = first_ids + payloads.map { |p| p["payload_id"] }
    duplicates = ids.tally.count { |_, n| n > 1 }
    figure("2 Push API outage", "500 #{phase}s + hang #{phase}s + refused #{phase}s; sent #{app["calls"]}, " \
                                "received #{received} (#{before_outage} before the outage); " \
                                "spool peak #{peak[0]} files / #{peak[1]} bytes (bound " \
                                "#{ReliabilityHelpers::SPOOL_MAX_FILES} / #{ReliabilityHelpers::SPOOL_MAX_BYTES}); " \
                                "spool now #{spool_usage.inspect}; duplicates #{duplicates}")
    expect(app["error_count"]).to eq(0)
    expect(peak[0]).to be <= ReliabilityHelpers::SPOOL_MAX_FILES
    expect(peak[1]).to be <= ReliabilityHelpers::SPOOL_MAX_BYTES
    expect(received).to eq(app["calls"])
    expect(duplicates).to eq(0)
    expect(spool_usage[0]).to eq(0)
  end
end
