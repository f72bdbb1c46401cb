# frozen_string_literal: true

require "tmpdir"
require "fileutils"

# Runs a benchmark with the real agent and a local Push API receiver, so the
# reporter thread does its real work while the app thread is timed.
module BenchEnv
  ROOT = File.expand_path("../..", __dir__)
  TARGET = ENV["CARGO_TARGET_DIR"] || File.join(ROOT, "target")

  module_function

  def working_dir
    @working_dir ||= Dir.mktmpdir("asb")
  end

  def with_agent
    receiver = File.join(TARGET, "release", "appsignal-test-receiver")
    port_file = File.join(working_dir, "receiver.port")
    pid = Process.spawn(receiver, "--listen", "127.0.0.1:0", "--port-file", port_file, out: File::NULL)
    sleep 0.02 until File.exist?(port_file)
    ENV["APPSIGNAL_PUSH_API_KEY"] = "bench-key"
    ENV["APPSIGNAL_APP_NAME"] = "bench"
    ENV["APPSIGNAL_APP_ENV"] = "bench"
    ENV["APPSIGNAL_PUSH_API_ENDPOINT"] = "http://127.0.0.1:#{File.read(port_file).strip}"
    ENV["APPSIGNAL_WORKING_DIRECTORY_PATH"] = working_dir
    ENV["APPSIGNAL_LOG_PATH"] = working_dir
    ENV["APPSIGNAL_ENABLE_HOST_METRICS"] = "false"
    yield
  ensure
    Appsignal.stop if defined?(Appsignal)
    stop_agent
    Process.kill("KILL", pid) if pid
    FileUtils.rm_rf(working_dir)
  end

  def stop_agent
    lock = File.join(working_dir, "agent.lock")
    agent_pid = File.exist?(lock) && File.read(lock)[/^pid=(\d+)/, 1]
    Process.kill("TERM", agent_pid.to_i) if agent_pid
  rescue Errno::ESRCH
    nil
  end
end
