# frozen_string_literal: true

# `ruby script/demo_load.rb BASE_URL SECONDS`: a steady, bounded load for the demo:
# about 40 requests per second for SECONDS, mostly fast, some slow, a few failing.
require "net/http"

base = ARGV.fetch(0)
deadline = Time.now + Integer(ARGV.fetch(1, "120"))
paths = (["/hello"] * 16) + (["/slow"] * 3) + ["/boom"]
Net::HTTP.start(URI(base).host, URI(base).port) do |http|
  while Time.now < deadline
    begin
      http.get(paths.sample)
    rescue StandardError
      sleep 0.5
    end
    sleep 0.025
  end
end
