# frozen_string_literal: true

require "English"
require "digest"
require "json"
require "open3"
require "tmpdir"

# Shared by the reliability specs: the short/full switch, the loop app, process
# inspection (agents per working dir, zombies) and the figure each scenario prints.
module ReliabilityHelpers
  FIXTURES = File.expand_path("../fixtures", __dir__)
  # Scenario constants (here: constants in an RSpec block leak into the top level).
  AGENT_KILL_RATE = 1_000
  SPOOL_MAX_BYTES = 20 * 1024 * 1024
  SPOOL_MAX_FILES = 100
  SMALL_DISK = 64 * 1024
  FORKING_WORKERS = 8
  SNAPSHOT = {} # rubocop:disable Style/MutableConstant
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
    File.open(RESULTS_PATH, "a") do |f|
      f.puts("#{Time.now.utc.strftime("%H:%M:%S")} #{full? ? "full " : "short"} #{line}")
    end
  end

  # The extension and agent the app processes of these specs run: private copies
  # taken once per run. `rake compile` rewrites lib/appsignal_extension.so in place,
  # and a process that has the old one mapped dies of SIGBUS; on a machine where the
  # tree is rebuilt while the suite runs, that would be a false failure.
  def binaries
    SNAPSHOT[:env] ||= snapshot_binaries
  end

  def snapshot_binaries
    so = $LOADED_FEATURES.find { |f| f.end_with?("appsignal_extension.so") } ||
         raise("the extension is not loaded: run `rake compile`")
    dir = Dir.mktmpdir("rel-bin")
    at_exit { FileUtils.rm_rf(dir) }
    { "APPSIGNAL_EXTENSION_PATH" => stable_copy(so, dir), "APPSIGNAL_AGENT_PATH" => stable_copy(SpecPaths.agent, dir) }
  end

  # Copies until the copy matches the source read again (not caught mid-rewrite).
  def stable_copy(source, dir)
    target = File.join(dir, File.basename(source))
    5.times do
      FileUtils.cp(source, target)
      return target if Digest::SHA256.file(source) == Digest::SHA256.file(target)

      sleep 1
    end
    raise "#{source} kept changing while it was copied"
  end

  # The env of an app process: the receiver, the working dir, the snapshot binaries.
  def app_env(receiver, working_dir, extra = {})
    appsignal_env(receiver, working_dir, binaries.merge(extra))
  end

  # Starts the paced `Appsignal.monitor` loop (fixtures/load_loop.rb) in a child that
  # writes `result.json` and `loop.log` in `out_dir`.
  def spawn_loop(env, out_dir, rate:, seconds:, action:)
    loop_env = SpecPaths.ruby_env.merge(env).merge(
      "LOOP_RATE" => rate.to_s, "LOOP_SECONDS" => seconds.to_s, "LOOP_ACTION" => action,
      "RESULT_PATH" => File.join(out_dir, "result.json")
    )
    Process.spawn(loop_env, RbConfig.ruby, File.join(FIXTURES, "load_loop.rb"),
                  out: File.join(out_dir, "loop.log"), err: %i[child out])
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

  # Zombies that are children of `parent_pids` (the app must reap what it starts, such
  # as the agent's `--daemonize` parent) or are one of `own_pids` (agents this spec
  # killed), still there after `grace` seconds. A killed daemon is an orphan that
  # init reaps; some inits (this CI's) reap only every few seconds, which is theirs,
  # not a leak, while a zombie that stays is ours.
  def lingering_zombies(parent_pids, own_pids, grace: 5)
    deadline = Time.now + grace
    loop do
      out, = Open3.capture2("ps", "-eo", "pid=,ppid=,stat=,comm=")
      found = out.lines.select do |line|
        pid, ppid, stat, = line.split
        stat.start_with?("Z") && (parent_pids.include?(ppid.to_i) || own_pids.include?(pid.to_i))
      end
      return found if found.empty? || Time.now > deadline

      sleep 0.2
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
