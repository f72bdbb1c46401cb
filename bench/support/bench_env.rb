# frozen_string_literal: true

require "tmpdir"
require "fileutils"

# Runs a benchmark with the real agent and a local Push API receiver, so the
# reporter thread does its real work while the app thread is timed.
module BenchEnv
  ROOT = File.expand_path("../..", __dir__)
  TARGET = ENV["CARGO_TARGET_DIR"] || File.join(ROOT, "target")
  RECEIVER = File.join(TARGET, "release", "appsignal-test-receiver")

  module_function

  # :full, :quick (BENCH_QUICK=1) or :smoke (BENCH_SMOKE=1: only proves it runs).
  def scale
    return :smoke if ENV["BENCH_SMOKE"] == "1"
    return :quick if ENV["BENCH_QUICK"] == "1"

    :full
  end

  def working_dir
    @working_dir ||= Dir.mktmpdir("asb")
  end

  # Starts the test receiver and yields its endpoint.
  def with_receiver
    dir = Dir.mktmpdir("asb-receiver")
    port_file = File.join(dir, "receiver.port")
    pid = Process.spawn(RECEIVER, "--listen", "127.0.0.1:0", "--port-file", port_file, out: File::NULL)
    deadline = Time.now + 10
    sleep 0.02 until (File.exist?(port_file) && !File.read(port_file).strip.empty?) || Time.now > deadline
    yield "http://127.0.0.1:#{File.read(port_file).strip}"
  ensure
    Process.kill("KILL", pid) if pid
    Process.wait(pid) if pid
    FileUtils.rm_rf(dir) if dir
  end

  def with_agent
    with_receiver do |endpoint|
      ENV["APPSIGNAL_PUSH_API_KEY"] = "bench-key"
      ENV["APPSIGNAL_APP_NAME"] = "bench"
      ENV["APPSIGNAL_APP_ENV"] = "bench"
      ENV["APPSIGNAL_PUSH_API_ENDPOINT"] = endpoint
      ENV["APPSIGNAL_WORKING_DIRECTORY_PATH"] = working_dir
      ENV["APPSIGNAL_LOG_PATH"] = working_dir
      ENV["APPSIGNAL_ENABLE_HOST_METRICS"] = "false"
      yield
    ensure
      Appsignal.stop if defined?(Appsignal)
      stop_agent_in(working_dir)
      FileUtils.rm_rf(working_dir)
    end
  end

  # Stops the agent an app started in `dir` (its pid is in agent.lock) and waits a
  # moment for it to exit, so it does not write into `dir` after the caller removes it.
  def stop_agent_in(dir)
    lock = File.join(dir, "agent.lock")
    agent_pid = File.exist?(lock) && File.read(lock)[/^pid=(\d+)/, 1]
    return unless agent_pid

    Process.kill("TERM", agent_pid.to_i)
    deadline = Time.now + 3
    sleep 0.05 while Time.now < deadline && Process.kill(0, agent_pid.to_i)
  rescue Errno::ESRCH, Errno::EPERM
    nil
  end
end
