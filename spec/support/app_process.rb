# frozen_string_literal: true

require "net/http"
require "socket"

# A real server process (Puma, Unicorn, Sidekiq...) started for a spec, with its
# output kept in a log file that is printed when the spec fails.
class AppProcess
  attr_reader :pid, :log_path, :port

  def self.free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  def initialize(command, env: {}, chdir: SpecPaths::ROOT, port: nil)
    @command = command
    @env = SpecPaths.ruby_env.merge(env)
    @chdir = chdir
    @port = port
    @log_path = File.join(Dir.mktmpdir("app"), "output.log")
  end

  def start
    @pid = Process.spawn(@env, *@command, chdir: @chdir, out: @log_path, err: %i[child out], pgroup: true)
    wait_for_port if @port
    self
  end

  def get(path, headers = {})
    uri = URI("http://127.0.0.1:#{@port}#{path}")
    request = Net::HTTP::Get.new(uri)
    headers.each { |key, value| request[key] = value }
    Net::HTTP.start(uri.host, uri.port, read_timeout: 30) { |http| http.request(request) }
  end

  def output
    File.exist?(@log_path) ? File.read(@log_path) : ""
  end

  def alive?
    Process.kill(0, @pid)
    true
  rescue Errno::ESRCH
    false
  end

  # TERM, then KILL after `grace` seconds; reaps the whole process group.
  def stop(signal: "TERM", grace: 10)
    return unless @pid

    Process.kill(signal, -@pid)
    deadline = Time.now + grace
    until Process.wait(@pid, Process::WNOHANG)
      if Time.now > deadline
        Process.kill("KILL", -@pid)
        Process.wait(@pid)
        break
      end
      sleep 0.05
    end
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  ensure
    @pid = nil
  end

  private

  def wait_for_port
    deadline = Time.now + 60
    loop do
      TCPSocket.new("127.0.0.1", @port).close
      return
    rescue Errno::ECONNREFUSED, Errno::EADDRNOTAVAIL
      raise "server did not listen on #{@port} within 60s:\n#{output}" if Time.now > deadline || !alive?

      sleep 0.1
    end
  end
end
