# frozen_string_literal: true

require "spec_helper"
require "json"
require "open3"
require_relative "support/reliability_helpers"

# Scenario 5: an internal error (a Rust panic, forced by a test-only switch) inside a
# Ruby call into the extension disables the extension for that process, is logged
# once, and the app goes on serving; and a broken extension binary still lets
# `require "appsignal"` and the whole public API work, as a logged no-op.
RSpec.describe "reliability: panic isolation" do
  include ReliabilityHelpers

  before do
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
  end

  after do |example|
    @app&.stop
    warn(@app.output) if example.exception && @app
    stop_agent(@working_dir)
    @receiver.stop
    FileUtils.rm_rf(@working_dir)
  end

  def hit(count)
    codes = Hash.new(0)
    count.times { codes[@app.get("/").code] += 1 }
    codes
  end

  it "disables the extension on a forced panic and keeps serving" do
    port = AppProcess.free_port
    env = app_env(@receiver, @working_dir, "APPSIGNAL_ENABLE_TEST_HOOKS" => "1")
    @app = AppProcess.new(["puma", "-t", "1:4", "-b", "tcp://127.0.0.1:#{port}", "panic_app.ru"],
                          env: env, chdir: ReliabilityHelpers::FIXTURES, port: port).start
    before_count = scale(200, 3000)
    after_count = scale(300, 10_000)
    action = "Reliability#panic_app"
    before = hit(before_count)
    wait_for_count(@receiver, action, before_count, 20)
    expect(@app.get("/panic").body).to eq("panicked")
    status = JSON.parse(@app.get("/status").body)
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    after = hit(after_count)
    took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    sleep 2.5 # two more transmission intervals: nothing may arrive after the panic
    received = action_count(@receiver.payloads, action)
    log = File.read(File.join(@working_dir, "appsignal.log"))
    figure("5 panic isolation", "#{before_count} requests, forced panic, #{after_count} more in #{took.round(2)}s: " \
                                "answers before #{before.inspect}, after #{after.inspect}; " \
                                "disabled #{status["disabled"]}; " \
                                "received #{received} (all from before the panic); panic on stderr: " \
                                "#{@app.output.include?("panicked at")}")

    expect(before).to eq("200" => before_count)
    expect(status["disabled"]).to be(true)
    expect(status["active"]).to be(false)
    expect(after).to eq("200" => after_count)
    expect(@app.alive?).to be(true)
    expect(received).to eq(before_count)
    expect(log).to include("panic in the AppSignal extension")
    expect(log.scan("internal error in the AppSignal extension; it is now disabled").length).to eq(1)
    expect(@app.output).not_to include("panicked at")
  end

  def run_with_extension(bytes, name)
    so = File.join(@working_dir, "#{name}_appsignal_extension.so")
    File.binwrite(so, bytes)
    log_dir = Dir.mktmpdir("log", @working_dir)
    env = SpecPaths.ruby_env.merge(app_env(@receiver, @working_dir, "APPSIGNAL_EXTENSION_PATH" => so,
                                                                    "APPSIGNAL_LOG_PATH" => log_dir))
    out, status = Open3.capture2e(env, RbConfig.ruby, File.join(ReliabilityHelpers::FIXTURES, "broken_so_app.rb"))
    log_path = File.join(log_dir, "appsignal.log")
    [status, out, File.exist?(log_path) ? File.read(log_path) : ""]
  end

  def expect_logged_no_op(name, status, out, log)
    expect(status.success?).to be(true), "#{name}: #{status.inspect} #{out[0, 400]}"
    expect(JSON.parse(out.lines.last)).to include("loaded" => false, "active" => false), name
    expect(log).to include("the AppSignal extension could not be loaded"), "#{name}: #{log}"
    expect(agents_for(@working_dir)).to be_empty
  end

  it "boots, serves the API as a no-op and logs why when the .so is garbage" do
    status, out, log = run_with_extension(Random.new(9).bytes(64 * 1024), "garbage")
    figure("5 broken .so", "garbage .so: exit #{status.exitstatus}, #{out.lines.last&.strip}, logged " \
                           "#{log[/could not be loaded \([^)]{0,60}/].inspect}")
    expect_logged_no_op("garbage", status, out, log)
  end

  it "boots when the .so is a truncated copy of the real one" do
    status, out, log = run_with_extension(File.binread(binaries.fetch("APPSIGNAL_EXTENSION_PATH"), 16 * 1024),
                                          "truncated")
    figure("5 truncated .so",
           "exit #{status.exitstatus.inspect} (#{status.termsig ? "signal #{status.termsig}" : "no signal"})")
    expect_logged_no_op("truncated", status, out, log)
  end
end
