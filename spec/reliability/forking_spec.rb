# frozen_string_literal: true

require "spec_helper"
require "open3"
require_relative "support/reliability_helpers"

# Scenario 4: forking servers with 8 workers through the restarts they do in
# production: Puma replacing workers (preloaded app), Puma's phased restart
# (SIGUSR1, what `pumactl phased-restart` sends), Unicorn's USR2 upgrade (a new
# master beside the old, then QUIT to the old). Every worker, old and new, reports
# exactly the requests it answered (no loss, no duplicate), what the master did
# before forking arrives once, one agent serves them all (duplicates started by
# racing workers leave at once), and no process of the app leaves a zombie.
RSpec.describe "reliability: forking servers, 8 workers, restarts" do
  include ReliabilityHelpers

  def worker_count = ReliabilityHelpers::FORKING_WORKERS

  before do
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
    @port = AppProcess.free_port
    @answered = Hash.new(0)
    @agents_seen = []
  end

  after do |example|
    @app&.stop
    warn(@app.output[-4000..] || @app.output) if example.exception && @app
    stop_agent(@working_dir)
    @receiver.stop
    FileUtils.rm_rf(@working_dir)
  end

  def start(command, extra = {})
    env = app_env(@receiver, @working_dir,
                  { "PORT" => @port.to_s, "WORKERS" => worker_count.to_s }.merge(extra))
    @app = AppProcess.new(command, env: env, chdir: File.join(SpecPaths::ROOT, "spec/fixtures/forking_app"),
                                   port: @port).start
  end

  def children(pid)
    out, = Open3.capture2("ps", "-o", "pid=", "--ppid", pid.to_s)
    out.split.map(&:to_i)
  end

  def comm(pid)
    File.read("/proc/#{pid}/comm").strip
  rescue Errno::ENOENT
    ""
  end

  # Worker pids of `master`: its children that are not agents (nor a new master).
  def workers_of(master, except: [])
    children(master).reject { |pid| comm(pid).start_with?("appsignal") || except.include?(pid) }
  end

  def wait_for_workers(master, count, timeout: 60, except: [])
    deadline = Time.now + timeout
    loop do
      pids = workers_of(master, except: except)
      return pids if pids.length == count && pids.all? { |pid| comm(pid) =~ /ruby|puma|unicorn/ }
      raise "#{master} has #{pids.length} workers, not #{count}" if Time.now > deadline

      sleep 0.2
    end
  end

  # Concurrent fresh connections until every pid in `workers` answered at least
  # `per_worker` times; counts every answer by the pid that gave it.
  def hit_every_worker(workers, per_worker: scale(5, 40))
    seen = Hash.new(0)
    deadline = Time.now + 60
    mutex = Mutex.new
    Array.new(worker_count * 2) do
      Thread.new do
        until workers.all? { |pid| seen[pid] >= per_worker } || Time.now > deadline
          pid = answering_pid
          mutex.synchronize { [seen, @answered].each { |counts| counts[pid] += 1 } }
        end
      end
    end.each(&:join)
    missing = workers.reject { |pid| seen[pid] >= per_worker }
    expect(missing).to be_empty, "workers #{missing} never answered; answers #{seen}"
  end

  def answering_pid
    response = @app.get("/")
    raise "HTTP #{response.code}" unless response.code == "200"

    response.body.to_i
  end

  # One agent, the lock's, once racing starters had a second to leave.
  def expect_one_agent
    sleep 1
    agents = agents_for(@working_dir)
    @agents_seen << agents.length
    expect(agents).to eq([lock_pid(@working_dir)])
  end

  def app_zombies(pids)
    parents = pids + pids.flat_map { |pid| children(pid) }
    zombies(parents).reject { |line| line.split[1].to_i == Process.pid }
  end

  def expect_every_answer_reported_once(masters_preloaded:)
    expected = @answered.transform_keys { |pid| "Forked#pid_#{pid}" }
    expected["Preload#completed_before_fork"] = masters_preloaded if masters_preloaded.positive?
    payloads = wait_for_count_of_all(expected)
    @app.stop
    sleep 2.5
    payloads = @receiver.payloads
    counts = expected.keys.to_h { |action| [action, action_count(payloads, action)] }
    wrong = counts.reject { |action, count| expected[action] == count }
    yield(counts, payloads)
    expect(wrong).to be_empty, "expected #{expected.slice(*wrong.keys)}, got #{wrong}"
    expect(action_count(payloads, "Preload#open_across_fork")).to eq(0)
    expect(duplicate_payload_ids(payloads)).to be_empty
  end

  def wait_for_count_of_all(expected)
    deadline = Time.now + 40
    loop do
      payloads = @receiver.payloads
      return payloads if expected.all? { |action, n| action_count(payloads, action) >= n } || Time.now > deadline

      sleep 0.25
    end
  end

  def report(name, restarts, counts)
    figure("4 forking #{name}", "#{worker_count} workers, #{restarts}; #{@answered.length} worker pids answered " \
                                "#{@answered.values.sum} requests, all reported exactly once: " \
                                "#{counts.count do |a, n|
                                     a.start_with?("Forked") && n == @answered[a[/\d+\z/].to_i]
                                   end}" \
                                "/#{@answered.length}; agents at checkpoints #{@agents_seen}")
  end

  it "Puma with the app preloaded, workers replaced" do
    start(["puma", "-w", worker_count.to_s, "--preload", "-t", "1:1", "-b", "tcp://127.0.0.1:#{@port}", "config.ru"])
    master = @app.pid
    first = wait_for_workers(master, worker_count)
    hit_every_worker(first)
    expect_one_agent
    replaced = first.first(scale(2, 8))
    replaced.each { |pid| Process.kill("TERM", pid) }
    second = wait_for_workers(master, worker_count, except: replaced)
    second = wait_for_workers(master, worker_count) until (second & replaced).empty?
    hit_every_worker(second)
    expect_one_agent
    zombies = app_zombies([master])
    expect_every_answer_reported_once(masters_preloaded: 1) do |counts, _|
      report("Puma preload", "#{replaced.length} workers replaced (TERM); zombies #{zombies.length}", counts)
    end
    expect(zombies).to be_empty
    expect((second - first).length).to eq(replaced.length)
  end

  it "Puma phased restart (SIGUSR1)" do
    # Phased restarts need workers that load the app themselves (no --preload).
    start(["puma", "-w", worker_count.to_s, "-t", "1:1", "-b", "tcp://127.0.0.1:#{@port}", "config.ru"])
    master = @app.pid
    first = wait_for_workers(master, worker_count)
    hit_every_worker(first)
    expect_one_agent
    Process.kill("USR1", master)
    deadline = Time.now + scale(90, 180)
    second = workers_of(master)
    until (second & first).empty? && second.length == worker_count
      raise "phased restart did not finish: #{second & first} still up" if Time.now > deadline

      sleep 0.3
      second = workers_of(master)
    end
    hit_every_worker(second)
    expect_one_agent
    zombies = app_zombies([master])
    expect_every_answer_reported_once(masters_preloaded: 0) do |counts, _|
      report("Puma phased restart", "phased restart replaced all #{worker_count}; zombies #{zombies.length}", counts)
    end
    expect(zombies).to be_empty
  end

  it "Unicorn USR2 upgrade" do
    pidfile = File.join(@working_dir, "unicorn.pid")
    start(["unicorn", "-c", "unicorn_upgrade.rb", "config.ru"], "UNICORN_PID" => pidfile)
    old_master = @app.pid
    first = wait_for_workers(old_master, worker_count)
    hit_every_worker(first)
    expect_one_agent
    Process.kill("USR2", old_master)
    deadline = Time.now + 60
    sleep 0.2 until (File.exist?(pidfile) && File.read(pidfile).to_i != old_master) || Time.now > deadline
    new_master = File.read(pidfile).to_i
    expect(new_master).not_to eq(old_master)
    second = wait_for_workers(new_master, worker_count)
    Process.kill("QUIT", old_master)
    sleep 0.2 while (workers_of(old_master, except: [new_master]) & first).any? && Time.now < deadline + 30
    hit_every_worker(second)
    expect_one_agent
    zombies = app_zombies([old_master, new_master])
    expect_every_answer_reported_once(masters_preloaded: 2) do |counts, _|
      report("Unicorn USR2", "USR2 upgrade to a new master + #{worker_count} workers, old QUIT; " \
                             "zombies #{zombies.length}", counts)
    end
    expect(zombies).to be_empty
  end
end
