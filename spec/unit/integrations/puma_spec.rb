# frozen_string_literal: true

require "spec_helper"
require "puma"
require "puma/configuration"
require "puma/events"
require "appsignal/integrations/puma"

# The Puma hooks added to a real Puma configuration: the app's own worker hooks keep
# running, ours are added once, and they run in the form each Puma version calls.
RSpec.describe Appsignal::Integrations::Puma do
  it "adds its worker hooks once, next to the app's own" do
    ran = []
    config = Puma::Configuration.new do |user_config|
      user_config.on_worker_boot { |index| ran << [:app_boot, index] }
    end
    2.times { described_class.install(config) }
    boot_hooks = config.options.all_of(:before_worker_boot)
    expect(boot_hooks.count { |hook| hook.is_a?(described_class::Callback) }).to eq(1)
    expect(config.options.all_of(:before_worker_shutdown).grep(described_class::Callback).length).to eq(1)
    config.run_hooks(:before_worker_boot, 3, Puma::Events.strings)
    expect(ran).to eq([[:app_boot, 3]])
  end

  it "answers both hook forms and never raises into Puma" do
    calls = []
    callback = described_class::Callback.new { calls << :called }
    callback.call(0)
    callback[:block].call(1)
    expect(calls).to eq(%i[called called])
    expect(callback[:cluster_only]).to be(true)
    failing = described_class::Callback.new { raise ArgumentError, "broken" }
    expect { failing.call(0) }.not_to raise_error
  end
end
