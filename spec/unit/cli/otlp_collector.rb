# frozen_string_literal: true

require "socket"
require "zlib"
require "stringio"

# A minimal OTLP/HTTP receiver in a thread: records each POST's path, headers and
# (gunzipped) protobuf body, answers 200 with an empty Export*ServiceResponse. The
# bodies are checked for the strings they must carry; the agent's own tests decode
# them field by field.
class OtlpCollector
  Request = Struct.new(:path, :headers, :body)

  def initialize
    @server = TCPServer.new("127.0.0.1", 0)
    @requests = []
    @lock = Mutex.new
    @thread = Thread.new { serve }
  end

  def endpoint
    "http://127.0.0.1:#{@server.addr[1]}"
  end

  def requests
    @lock.synchronize { @requests.dup }
  end

  def stop
    @thread.kill
    @server.close
  end

  private

  def serve
    loop do
      client = @server.accept
      request = read_request(client)
      @lock.synchronize { @requests << request } if request
      client.write("HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n" \
                   "Connection: close\r\n\r\n")
      client.close
    end
  rescue IOError, SystemCallError
    nil
  end

  def read_request(client)
    path = client.gets.to_s.split[1]
    headers = {}
    while (line = client.gets) && line != "\r\n"
      name, value = line.split(":", 2)
      headers[name.strip.downcase] = value.to_s.strip
    end
    body = client.read(headers.fetch("content-length", "0").to_i).to_s
    body = Zlib::GzipReader.new(StringIO.new(body)).read if headers["content-encoding"] == "gzip"
    Request.new(path, headers, body.b)
  end
end
