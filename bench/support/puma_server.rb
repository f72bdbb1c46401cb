# frozen_string_literal: true

require "net/http"
require "socket"
require "tempfile"

# A Puma cluster serving a fixture app on a free port, in its own process group.
class PumaServer
  BOOT_TIMEOUT = 90

  attr_reader :url

  def initialize(dir, workers, env, path)
    @dir = dir
    @workers = workers
    @env = env
    @path = path
  end

  def start
    port = free_port
    @url = "http://127.0.0.1:#{port}#{@path}"
    @log = Tempfile.new("asb-puma")
    @pid = Process.spawn(@env, "puma", "-e", "production", "-w", @workers.to_s, "-t", "4:4",
                         "-b", "tcp://127.0.0.1:#{port}", "config.ru",
                         chdir: @dir, out: @log.path, err: @log.path, pgroup: true)
    wait_until_serving
    self
  end

  # Mean RSS of the workers, in MB.
  def worker_rss_mb
    rss = worker_pids.map { |pid| File.read("/proc/#{pid}/status")[/^VmRSS:\s+(\d+)/, 1].to_i }
    rss.empty? ? nil : (rss.sum / rss.length / 1024.0).round(1)
  rescue Errno::ENOENT
    nil
  end

  def stop
    return unless @pid

    Process.kill("TERM", -@pid)
    deadline = Time.now + 15
    sleep 0.1 while Time.now < deadline && !Process.wait(@pid, Process::WNOHANG)
    begin
      Process.kill("KILL", -@pid)
      Process.wait(@pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end
    @pid = nil
    @log&.close!
  end

  private

  def worker_pids
    Dir["/proc/[0-9]*/stat"].filter_map do |stat|
      fields = File.read(stat).split(") ", 2).last.to_s.split
      File.basename(File.dirname(stat)).to_i if fields[1].to_i == @pid
    rescue Errno::ENOENT, Errno::ESRCH
      nil
    end
  end

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  def wait_until_serving
    deadline = Time.now + BOOT_TIMEOUT
    loop do
      return if Net::HTTP.get_response(URI(@url)).code == "200"
    rescue SystemCallError, IOError, Net::ReadTimeout
      raise "Puma did not serve #{@url} within #{BOOT_TIMEOUT} s:\n#{File.read(@log.path)}" if Time.now > deadline
      raise "Puma exited:\n#{File.read(@log.path)}" if Process.wait(@pid, Process::WNOHANG)

      sleep 0.2
    end
  end
end
