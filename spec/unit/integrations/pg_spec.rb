# frozen_string_literal: true

require "spec_helper"
require "pg"
require "appsignal/integrations/pg"

# The patched PG::Connection against the real PostgreSQL: every method returns what
# pg returned and raises what pg raised, inside a transaction or not.
RSpec.describe Appsignal::Integrations::PG do
  before(:all) { described_class.install }

  let(:connection) { PG.connect(host: "127.0.0.1", port: 5432, user: "postgres", dbname: "test") }

  after do
    connection.close
    Appsignal::Transaction.clear_current
  end

  it "is installed once however often install runs" do
    described_class.install
    count = PG::Connection.ancestors.count { |m| m == described_class::ConnectionInstrumentation }
    expect(count).to eq(1)
  end

  [false, true].each do |in_transaction|
    context(in_transaction ? "inside a transaction" : "without a transaction") do
      before { Appsignal::Transaction.create("http_request") if in_transaction }

      it "returns pg's own results from every patched method" do
        expect(connection.exec("SELECT 1 AS one").to_a).to eq([{ "one" => "1" }])
        expect(connection.query("SELECT 2 AS two").to_a).to eq([{ "two" => "2" }])
        expect(connection.async_exec("SELECT 3 AS three").to_a).to eq([{ "three" => "3" }])
        expect(connection.sync_exec("SELECT 4 AS four").to_a).to eq([{ "four" => "4" }])
        expect(connection.exec_params("SELECT $1::int AS n", [5]).to_a).to eq([{ "n" => "5" }])
        expect(connection.async_exec_params("SELECT $1::int AS n", [6]).to_a).to eq([{ "n" => "6" }])
        connection.prepare("integ_stmt", "SELECT $1::int AS n")
        expect(connection.exec_prepared("integ_stmt", [7]).to_a).to eq([{ "n" => "7" }])
        expect(connection.exec("SELECT 8 AS n") { |result| result.getvalue(0, 0) }).to eq("8")
      end

      it "re-raises pg's own exception object" do
        raised = nil
        expect do
          connection.exec("SELECT * FROM integ_table_that_does_not_exist")
        rescue PG::UndefinedTable => e
          raised = e
          raise
        end.to raise_error(PG::UndefinedTable, /integ_table_that_does_not_exist/)
        expect(raised.result).to be_a(PG::Result)
      end
    end
  end
end
