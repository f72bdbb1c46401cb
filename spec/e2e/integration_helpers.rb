# frozen_string_literal: true

require "json"

# Reading decoded payloads by action, shared by the integration specs.
module IntegrationHelpers
  def action_minutes(payloads, action)
    PushReceiver.actions(payloads).select { |minute| minute["action"] == action }
  end

  def action_count(payloads, action)
    action_minutes(payloads, action).sum { |minute| minute["count"].to_i }
  end

  def error_count(payloads, action)
    action_minutes(payloads, action).sum { |minute| minute["error_count"].to_i }
  end

  def event_names(payloads, action)
    action_minutes(payloads, action).flat_map { |minute| (minute["events"] || []).map { |e| e["name"] } }.uniq
  end

  def samples_for(payloads, action)
    PushReceiver.samples(payloads).select { |sample| sample["action"] == action }
  end

  def sample_events(sample)
    sample["events"] || []
  end

  def sample_params(sample)
    json = sample["params_json"].to_s
    json.empty? ? nil : JSON.parse(json)
  end

  # Waits until every action has at least the count given: { "A#b" => 2 }.
  def wait_for_actions(receiver, expected, timeout = 30)
    receiver.wait_for(timeout: timeout) do |payloads|
      expected.all? { |action, count| action_count(payloads, action) >= count }
    end
  rescue RuntimeError => e
    seen = PushReceiver.actions(receiver.payloads).map { |m| [m["action"], m["count"]] }
    raise "#{e.message}; expected #{expected}, saw #{seen}"
  end

  def pg_exec(sql)
    require "pg"
    connection = PG.connect(host: "127.0.0.1", port: 5432, user: "postgres", dbname: "test")
    connection.exec(sql)
  ensure
    connection&.close
  end
end

RSpec.configure { |config| config.include IntegrationHelpers }
