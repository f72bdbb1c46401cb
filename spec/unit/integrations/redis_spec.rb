# frozen_string_literal: true

require "spec_helper"
require "redis"
require "appsignal/integrations/redis"

RSpec.describe Appsignal::Integrations::Redis do
  it "keeps only the command and a ? per argument" do
    expect(described_class.sanitize([:set, "key", "secret"])).to eq("set ? ?")
    expect(described_class.sanitize([:get, "key"])).to eq("get ?")
    expect(described_class.sanitize([:ping])).to eq("ping")
    expect(described_class.sanitize([:eval, "return 1", 1, "key", "secret"])).to eq("eval return 1 ? ? ?")
  end

  it "returns what the real client returned and raises what it raised" do
    described_class.install
    redis = Redis.new(url: "redis://127.0.0.1:6379/11")
    Appsignal::Transaction.create("http_request")
    expect(redis.set("integ:unit:key", "v")).to eq("OK")
    expect(redis.get("integ:unit:key")).to eq("v")
    expect(redis.pipelined { |p| [p.incr("integ:unit:n"), p.del("integ:unit:n")] }).to match([Integer, 1])
    expect { redis.call(:no_such_command) }.to raise_error(Redis::CommandError, /unknown command/)
  ensure
    redis&.del("integ:unit:key")
    redis&.close
    Appsignal::Transaction.clear_current
  end
end
