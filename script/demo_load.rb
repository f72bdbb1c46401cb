# frozen_string_literal: true

# `ruby script/demo_load.rb BASE_URL SECONDS [DASHBOARD_APP_URL]`: a steady, bounded load for
# the demo: about 40 requests per second for SECONDS, mostly fast, some slow, a few failing.
# With DASHBOARD_APP_URL (the app's page on the server, e.g. http://127.0.0.1:8099/apps/1) it
# also measures how long the first request takes to show up there: one request to
# /hello, then the dashboard is polled every 100 ms until HelloController#index is listed.
require "net/http"

base = URI(ARGV.fetch(0))
seconds = Integer(ARGV.fetch(1, "120"))
dashboard = ARGV[2] && URI(ARGV[2])

def listed?(dashboard, action)
  body = Net::HTTP.get_response(dashboard).body.to_s
  body.include?(">#{action}</a>")
rescue StandardError
  false
end

if dashboard
  Thread.new do
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    Net::HTTP.get_response(URI.join(base.to_s, "/hello"))
    deadline = started + 300
    sleep 0.1 until listed?(dashboard, "HelloController#index") ||
                    Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    if listed?(dashboard, "HelloController#index")
      puts format("demo_load: first request to its point on the dashboard: %.1f s", elapsed)
    else
      warn "demo_load: HelloController#index did not reach #{dashboard} within 300 s; " \
           "see the server and app logs"
    end
  end
end

deadline = Time.now + seconds
paths = (["/hello"] * 16) + (["/slow"] * 3) + ["/boom"]
sent = 0
Net::HTTP.start(base.host, base.port) do |http|
  while Time.now < deadline
    begin
      http.get(paths.sample)
      sent += 1
    rescue StandardError
      sleep 0.5
    end
    sleep 0.025
  end
end
puts "demo_load: #{sent} requests sent in #{seconds} s"
# Let the latency probe finish (it stops by itself after 300 s at most).
Thread.list.each { |t| t.join unless t == Thread.current }
