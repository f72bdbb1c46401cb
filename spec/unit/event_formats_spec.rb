# frozen_string_literal: true

require "spec_helper"
require "appsignal/integrations/active_support_notifications"

EventFormatsSpecJob = Struct.new(:id)

# Titles and bodies of ActiveSupport::Notifications events, per kind, as the AppSignal
# gem's event formatters give them; and formatters registered by the app.
RSpec.describe Appsignal::Integrations::EventFormats do
  sql = Appsignal::EventFormatter::SQL_BODY_FORMAT

  it "gives SQL events the query name as title and the SQL as a body to obfuscate" do
    expect(described_class.format("sql.active_record", name: "User Load", sql: "SELECT 1"))
      .to eq(["User Load", "SELECT 1", sql])
  end

  it "titles renders with the template path, cache calls with their store (never the key), jobs with their class" do
    expect(described_class.format("render_partial.action_view", identifier: "/app/views/_row.html.erb"))
      .to eq(["app/views/_row.html.erb", nil])
    expect(described_class.format("cache_read_multi.active_support", key: %w[user/42/secret b],
                                                                     store: "ActiveSupport::Cache::MemoryStore"))
      .to eq(["ActiveSupport::Cache::MemoryStore", nil])
    expect(described_class.format("perform.active_job", job: EventFormatsSpecJob.new(1)))
      .to eq(["EventFormatsSpecJob", nil])
    expect(described_class.format("instantiation.active_record", record_count: 3, class_name: "Post"))
      .to eq(["3 × Post", nil])
  end

  it "gives other events neither title nor body" do
    expect(described_class.format("process_action.action_controller", {})).to be_nil
  end

  context "with a formatter the app registered" do
    let(:formatter) do
      Class.new do
        def format(payload)
          raise ArgumentError, "bad payload" if payload[:raise]

          ["Charge #{payload[:provider]}", "amount hidden", Appsignal::EventFormatter::SQL_BODY_FORMAT]
        end
      end
    end

    after { Appsignal::EventFormatter.unregister("charge.billing") }

    it "uses it for its event, and survives it raising" do
      Appsignal::EventFormatter.register("charge.billing", formatter)
      expect(Appsignal::EventFormatter.registered?("charge.billing", formatter)).to be(true)
      expect(described_class.format("charge.billing", provider: :stripe)).to eq(["Charge stripe", "amount hidden", sql])
      expect(described_class.format("charge.billing", raise: true)).to be_nil
      Appsignal::EventFormatter.unregister("charge.billing")
      expect(described_class.format("charge.billing", provider: :stripe)).to be_nil
    end

    it "refuses an object without format" do
      Appsignal::EventFormatter.register("charge.billing", Object)
      expect(Appsignal::EventFormatter.registered?("charge.billing")).to be(false)
    end
  end
end
