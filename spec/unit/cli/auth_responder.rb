# frozen_string_literal: true

require "socket"

# A one-route HTTP server in a thread that answers every request with a fixed
# status, for the push API key check's 401 and 5xx cases (the test receiver
# accepts every non-empty key). Records the request lines it saw.
class AuthResponder
  attr_reader :requests

  def initialize(status)
    @status = status
    @server = TCPServer.new("127.0.0.1", 0)
    @requests = []
    @thread = Thread.new { serve }
  end

  def endpoint
    "http://127.0.0.1:#{@server.addr[1]}"
  end

  def stop
    @thread.kill
    @server.close
  end

  private

  def serve
    loop do
      client = @server.accept
      @requests << client.gets.to_s.strip
      while (line = client.gets) && line != "\r\n"; end
      client.write("HTTP/1.1 #{@status} Status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
      client.close
    end
  rescue IOError, SystemCallError
    nil
  end
end
