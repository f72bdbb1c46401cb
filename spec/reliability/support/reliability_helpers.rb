# frozen_string_literal: true

require "English"
require "json"
require "open3"
require "tmpdir"

# Shared by the reliability specs: the short/full switch, the loop app, process
# inspection (agents per working dir, zombies) and the figure each scenario prints.
module ReliabilityHelpers
  FIXTURES = File.expand_path("../fixtures", __dir__)
  RESULTS_PATH = ENV.fetch("RELIABILITY_RESULTS", File.join(Dir.tmpdir, "appsignal-reliability-results.txt"))

  module_function

  # `rake reliability` sets RELIABILITY_FULL=1: longer runs, more faults.
  def full?
    ENV["RELIABILITY_FULL"] == "1"
  end

  # `short` in the normal run, `long` under `rake reliability`.
  def scale(short, long)
    full? ? long : short
  end

  # Prints what a scenario checked and its figure, and keeps it for the README.
  def figure(scenario, text)
    line = "[reliability] #{scenario}: #{text}"
    puts line
    File.open(RESULTS_PATH, "a") { |f| f.puts("#{Time.now.utc.strftime("%H:%M:%S")} #{full? ? "full " : "short"} #{line}") }
  end

  # Starts the paced `Appsignal.monitor` loop (fixtures/load_loop.rb) in a child.
  def spawn_loop(env, rate:, seconds:, action:, result:, log:)
    loop_env = SpecPaths.ruby_env.merge(env).merge(
      "LOOP_RATE" => rate.to_s, "LOOP_SECONDS" => seconds.to_s, "LOOP_ACTION" => action, "RESULT_PATH" => result
    )
    Process.spawn(loop_env, RbConfig.ruby, File.join(FIXTURES, "load_loop.rb"), out: log, err: %i[child out])
  end

  def wait_child(pid, timeout)
    deadline = Time.now + timeout
    until Process.wait(pid, Process::WNOHANG)
      if Time.now > deadline
        Process.kill("KILL", pid)
        Process.wait(pid)
        raise "child #{pid} did not finish within #{timeout}s"
      end
      sleep 0.05
    end
    $CHILD_STATUS
  end

  def read_result(path)
    JSON.parse(File.read(path))
  end

  # Pids of appsignal-agent processes serving `working_dir` (by their environment).
  def agents_for(working_dir)
    Dir["/proc/[0-9]*"].filter_map do |proc_dir|
      pid = File.basename(proc_dir).to_i
      comm = File.read("#{proc_dir}/comm").strip
      next unless comm.start_with?("appsignal-agen")

      environ = File.binread("#{proc_dir}/environ").split("\0")
      pid if environ.include?("APPSIGNAL_WORKING_DIRECTORY_PATH=#{working_dir}") && !zombie?(pid)
    rescue Errno::ENOENT, Errno::ESRCH, Errno::EACCES
      nil
    end
  end

  def zombie?(pid)
    File.read("/proc/#{pid}/stat")[/\) (\S)/, 1] == "Z"
  rescue Errno::ENOENT
    false
  end

  # `ps` lines of zombie processes (state Z) whose parent is `parent_pids` or this process.
  def zombies(parent_pids = [])
    out, = Open3.capture2("ps", "-eo", "pid=,ppid=,stat=,comm=")
    parents = [Process.pid, *parent_pids]
    out.lines.select do |line|
      _pid, ppid, stat, = line.split
      stat.start_with?("Z") && parents.include?(ppid.to_i)
    end
  end

  # Zombies anywhere that are appsignal agents or children of the given pids.
  def agent_or_app_zombies(parent_pids)
    out, = Open3.capture2("ps", "-eo", "pid=,ppid=,stat=,comm=")
    out.lines.select do |line|
      _pid, ppid, stat, comm = line.split
      stat.start_with?("Z") && (comm.to_s.start_with?("appsignal") || parent_pids.include?(ppid.to_i))
    end
  end

  def lock_pid(working_dir)
    File.read(File.join(working_dir, "agent.lock"))[/^pid=(\d+)/, 1]&.to_i
  rescue Errno::ENOENT
    nil
  end

  def socket_connectable?(working_dir)
    UNIXSocket.new(File.join(working_dir, "agent.socket")).close
    true
  rescue SystemCallError
    false
  end

  def percentile(values, quantile)
    sorted = values.sort
    sorted.empty? ? 0 : sorted[[(quantile * sorted.length).ceil - 1, 0].max]
  end

  def action_count(payloads, action)
    PushReceiver.actions(payloads).select { |a| a["action"] == action }.sum { |a| a["count"].to_i }
  end

  def duplicate_payload_ids(payloads)
    payloads.map { |p| p["payload_id"] }.tally.select { |_, n| n > 1 }.keys
  end

  # The agent's own health metrics (source AGENT) across payloads, by name.
  def agent_health(payloads)
    payloads.flat_map { |p| p["metrics"] || [] }
            .select { |m| m["source"].to_s.include?("AGENT") || m["source"] == 2 }
            .group_by { |m| m["name"] }
  end

  # Polls until the receiver has `expected` of `action` (or the timeout); returns the payloads.
  def wait_for_count(receiver, action, expected, timeout)
    deadline = Time.now + timeout
    loop do
      payloads = receiver.payloads
      return payloads if action_count(payloads, action) >= expected || Time.now > deadline

      sleep 0.25
    end
  end
end
