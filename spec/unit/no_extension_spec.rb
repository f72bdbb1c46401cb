# frozen_string_literal: true

require "spec_helper"
require "open3"

# When the extension cannot load, `require "appsignal"` still works, the log says
# why, and every API call is a no-op that still runs the user's blocks.
RSpec.describe "running without the extension" do
  it "boots, logs the reason once and turns every call into a no-op" do
    script = <<~RUBY
      require "appsignal"
      puts Appsignal.start.inspect
      puts Appsignal.monitor(action: "A#b") { Appsignal.instrument("x.y") { 41 + 1 } }
      Appsignal.increment_counter("c", 1)
      Appsignal.set_error(StandardError.new("e"))
      puts Appsignal.active?.inspect
    RUBY
    env = SpecPaths.ruby_env.merge("APPSIGNAL_EXTENSION_PATH" => "/nonexistent/appsignal_extension.so",
                                   "APPSIGNAL_PUSH_API_KEY" => "key", "APPSIGNAL_LOG" => "stdout")
    output, status = Open3.capture2e(env, RbConfig.ruby, "-e", script)
    expect(status).to be_success
    lines = output.lines.map(&:strip)
    expect(lines).to include("false", "42")
    expect(output.scan("could not be loaded").length).to eq(1)
    expect(output).to match(/WARN.*AppSignal not started: the AppSignal extension could not be loaded/)
  end
end
