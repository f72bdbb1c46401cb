# frozen_string_literal: true

require "spec_helper"
require "appsignal/cli/push_api_key_check"
require_relative "auth_responder"

RSpec.describe Appsignal::CLI::Secret do
  it "shows at most 4 characters of a key, and none of a short one" do
    expect(described_class.mask("0123456789abcdef")).to eq("0123...(masked)")
    expect(described_class.mask("short-key")).to eq("(masked)")
    expect(described_class.mask(nil)).to eq("(none)")
  end

  it "scrubs every occurrence of the key from text" do
    text = described_class.scrub("key=0123456789abcdef and again 0123456789abcdef", "0123456789abcdef")
    expect(text).not_to include("0123456789abcdef")
    expect(text).to eq("key=0123...(masked) and again 0123...(masked)")
  end
end

RSpec.describe Appsignal::CLI::PushApiKeyCheck do
  def check(endpoint, key = "0123456789abcdef")
    described_class.new(endpoint: endpoint, key: key).perform
  end

  it "posts the key to /1/auth and maps 200, 401 and other answers" do
    { 200 => :valid, 401 => :invalid, 500 => :unexpected }.each do |status, expected|
      responder = AuthResponder.new(status)
      result = check(responder.endpoint)
      expect(result.status).to eq(expected)
      expect(responder.requests.first).to start_with("POST /1/auth?api_key=0123456789abcdef ")
      expect(result.message).not_to include("0123456789abcdef")
    ensure
      responder.stop
    end
  end

  it "names the endpoint, never the key, when nothing answers" do
    port = AppProcess.free_port
    result = check("http://127.0.0.1:#{port}")
    expect(result.status).to eq(:unreachable)
    expect(result.message).to include("cannot reach http://127.0.0.1:#{port}")
    expect(result.message).not_to include("0123456789abcdef")
  end

  it "reports a missing key and a malformed endpoint without a request" do
    expect(check("http://127.0.0.1:1", " ").status).to eq(:missing)
    result = check("not a url")
    expect(result.status).to eq(:unreachable)
    expect(result.message).to include("push_api_endpoint")
  end
end
