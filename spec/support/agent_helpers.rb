# frozen_string_literal: true

require "tmpdir"

# Each spec that runs the real agent gets its own short working directory (Unix
# socket paths are limited to 108 bytes) and stops that agent afterwards.
module AgentHelpers
  def make_working_dir
    Dir.mktmpdir("as")
  end

  def agent_pid(working_dir)
    lock = File.join(working_dir, "agent.lock")
    File.exist?(lock) ? File.read(lock)[/^pid=(\d+)/, 1]&.to_i : nil
  end

  def stop_agent(working_dir)
    pid = agent_pid(working_dir)
    return unless pid

    Process.kill("TERM", pid)
    deadline = Time.now + 5
    sleep 0.05 while process_alive?(pid) && Time.now < deadline
    Process.kill("KILL", pid) if process_alive?(pid)
  rescue Errno::ESRCH, Errno::EPERM
    nil
  end

  def process_alive?(pid)
    Process.kill(0, pid)
    true
  rescue Errno::ESRCH
    false
  end

  # The env that points an app at a receiver with a short transmission interval.
  def appsignal_env(receiver, working_dir, extra = {})
    {
      "APPSIGNAL_PUSH_API_KEY" => "test-push-api-key",
      "APPSIGNAL_APP_NAME" => "spec-app",
      "APPSIGNAL_APP_ENV" => "test",
      "APPSIGNAL_PUSH_API_ENDPOINT" => receiver.endpoint,
      "APPSIGNAL_WORKING_DIRECTORY_PATH" => working_dir,
      "APPSIGNAL_TRANSMISSION_INTERVAL" => "1",
      "APPSIGNAL_ENABLE_HOST_METRICS" => "false",
      "APPSIGNAL_LOG_PATH" => working_dir
    }.merge(extra)
  end
end
