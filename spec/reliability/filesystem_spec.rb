# frozen_string_literal: true

require "spec_helper"
require "open3"
require_relative "support/reliability_helpers"

# Scenario 8: the filesystem works against us. A working directory the app cannot
# write, a disk that fills up under the agent's journal and spool, and symlinks
# planted (by another user) where the socket, lock, log and payloads go. Each time:
# a clear log line naming the path, no symlink followed, and the app unaffected
# (every call returns, no error, latency flat).
#
# As root (CI, this machine) the read-only directory is a read-only bind mount and
# the full disk a 64 KB tmpfs; otherwise a 0555 directory and RLIMIT_FSIZE (files
# past 64 KB fail with EFBIG, SIGXFSZ ignored) stand in for them.
RSpec.describe "reliability: filesystem faults" do
  include ReliabilityHelpers

  before do
    @receiver = PushReceiver.start
    @root = make_working_dir
    @working_dir = File.join(@root, "wd")
    @log_dir = File.join(@root, "log")
    @out_dir = File.join(@root, "out")
    FileUtils.mkdir_p([@working_dir, @log_dir, @out_dir])
    @mounts = []
  end

  after do |example|
    warn(File.read(File.join(@out_dir, "loop.log"))) if example.exception && File.exist?(File.join(@out_dir,
                                                                                                   "loop.log"))
    stop_agent(@working_dir)
    @mounts.reverse_each { |path| system("umount", path, err: File::NULL) }
    @receiver.stop
    FileUtils.rm_rf(@root)
  end

  def mount(*args)
    return false unless Process.uid.zero?

    ok = system("mount", *args, err: File::NULL)
    @mounts << args.last if ok
    ok
  end

  def run_app(seconds, extra = {})
    env = app_env(@receiver, @working_dir, { "APPSIGNAL_LOG_PATH" => @log_dir }.merge(extra))
    pid = spawn_loop(env, @out_dir, rate: 300, seconds: seconds, action: "Reliability#filesystem")
    [pid, File.join(@out_dir, "result.json")]
  end

  def log
    Dir[File.join(@log_dir, "*")].map { |f| File.read(f) }.join + File.read(File.join(@out_dir, "loop.log"))
  end

  def expect_app_unaffected(app)
    expect(app["error_count"]).to eq(0), app["errors"].inspect
    expect(app["calls"]).to be > 0
    expect(app["p99_ms"]).to be < 2.0
    expect(app["max_ms"]).to be < 100.0
  end

  it "keeps the app running when the working directory is not writable" do
    how = if mount("--bind", @working_dir, @working_dir) && mount("-o", "remount,bind,ro", @working_dir)
            "read-only bind mount"
          else
            File.chmod(0o555, @working_dir)
            "mode 0555"
          end
    pid, result = run_app(scale(3, 20))
    wait_child(pid, 90)
    app = read_result(result)
    line = log.lines.find { |l| l.include?(@working_dir) && l.include?("not writable") }
    figure("8 unwritable working dir", "#{how}: #{app["calls"]} calls, #{app["error_count"]} errors, p99 " \
                                       "#{app["p99_ms"].round(3)} ms; started #{app["started"]}; log: #{line&.strip}")
    expect_app_unaffected(app)
    expect(app["started"]).to be(false)
    expect(line).not_to be_nil, log
    expect(agents_for(@working_dir)).to be_empty
  end

  # The journal and the spool fill the small disk while the Push API fails; the
  # agent says so, keeps running, and delivers again once there is room.
  it "keeps the app and the agent running when the disk is full, and recovers" do
    extra = {}
    how = if mount("-t", "tmpfs", "-o", "size=#{ReliabilityHelpers::SMALL_DISK},mode=0777", "tmpfs", @working_dir)
            "#{ReliabilityHelpers::SMALL_DISK / 1024} KB tmpfs"
          else
            extra["RELIABILITY_FSIZE_LIMIT"] = ReliabilityHelpers::SMALL_DISK.to_s
            "RLIMIT_FSIZE #{ReliabilityHelpers::SMALL_DISK / 1024} KB"
          end
    phase = scale(4, 30)
    pid, result = run_app((phase * 2) + 8, extra)
    sleep 1.5
    agent = lock_pid(@working_dir)
    @receiver.mode = "500"
    sleep phase * 2
    @receiver.mode = "accept"
    before_recovery = action_count(@receiver.payloads, "Reliability#filesystem")
    wait_child(pid, (phase * 2) + 90)
    app = read_result(result)
    payloads = wait_for_count(@receiver, "Reliability#filesystem", before_recovery + 1, 20)
    recovered = action_count(payloads, "Reliability#filesystem") - before_recovery
    full = log.lines.grep(/No space left on device|File too large/)
    figure("8 disk full", "#{how}, Push API 500 for #{phase * 2}s: #{app["calls"]} calls, #{app["error_count"]} " \
                          "errors, p99 #{app["p99_ms"].round(3)} ms; #{full.length} log lines about it, e.g. " \
                          "#{full.first&.strip.inspect}; same agent after: #{lock_pid(@working_dir) == agent}; " \
                          "delivered after recovery #{recovered}")
    expect_app_unaffected(app)
    expect(full).not_to be_empty, log
    expect(agent).not_to be_nil
    expect(process_alive?(agent)).to be(true)
    expect(lock_pid(@working_dir)).to eq(agent)
    expect(recovered).to be > 0
  end

  def plant(name, target)
    path = File.join(@working_dir, name)
    File.symlink(target, path)
    File.lchown(65_534, 65_534, path) if Process.uid.zero? # "another user" planted it
    path
  end

  def victims
    dir = File.join(@root, "victims")
    FileUtils.mkdir_p(File.join(dir, "dir"))
    %w[socket lock log].to_h do |name|
      path = File.join(dir, name)
      File.write(path, "victim #{name}\n")
      [name, path]
    end.merge("dir" => File.join(dir, "dir"))
  end

  it "follows no symlink planted at the socket, lock and log paths, and works" do
    targets = victims
    before = targets.transform_values { |p| File.directory?(p) ? Dir.children(p) : File.read(p) }
    plant("agent.socket", targets["socket"])
    plant("agent.lock", targets["lock"])
    plant("appsignal.log", targets["log"])
    pid, result = run_app(scale(4, 20), "APPSIGNAL_LOG_PATH" => @working_dir)
    wait_child(pid, 90)
    app = read_result(result)
    payloads = wait_for_count(@receiver, "Reliability#filesystem", app["calls"], 20)
    received = action_count(payloads, "Reliability#filesystem")
    after = targets.transform_values { |p| File.directory?(p) ? Dir.children(p) : File.read(p) }
    kinds = %w[agent.socket agent.lock appsignal.log].to_h { |n| [n, File.lstat(File.join(@working_dir, n)).ftype] }
    notes = log.lines.grep(/symlink|symbolic link/)
    figure("8 planted symlinks", "socket, lock, log: victims untouched #{before == after}; now #{kinds}; " \
                                 "sent #{app["calls"]}, received #{received}; log: #{notes.first&.strip.inspect}")
    expect_app_unaffected(app)
    expect(after).to eq(before)
    expect(kinds).to eq("agent.socket" => "socket", "agent.lock" => "file", "appsignal.log" => "link")
    expect(received).to eq(app["calls"])
    expect(notes).not_to be_empty, log
  end

  it "refuses a symlinked payloads directory with a clear line, and the app is unaffected" do
    targets = victims
    plant("payloads", targets["dir"])
    pid, result = run_app(scale(3, 20))
    wait_child(pid, 90)
    app = read_result(result)
    line = log.lines.find { |l| l.include?("payloads") && l.include?("symlink") }
    figure("8 planted payloads symlink", "#{app["calls"]} calls, #{app["error_count"]} errors, p99 " \
                                         "#{app["p99_ms"].round(3)} ms; victim dir now " \
                                         "#{Dir.children(targets["dir"])}; log: #{line&.strip.inspect}")
    expect_app_unaffected(app)
    expect(Dir.children(targets["dir"])).to be_empty
    expect(File.symlink?(File.join(@working_dir, "payloads"))).to be(true)
    expect(line).not_to be_nil, log
  end
end
