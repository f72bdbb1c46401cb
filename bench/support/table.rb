# frozen_string_literal: true

require "etc"

# The one table `bench/run.rb` prints: rows from every section, each with its
# baseline from the same run, the ratio, and the design target where there is one.
class Table
  Row = Struct.new(:section, :name, :value, :unit, :baseline, :baseline_value, :ratio, :allocs, :note,
                   keyword_init: true)

  # [pattern, target text, check(row, rows) -> true/false]
  TARGETS = [
    [/^Appsignal\.instrument \(in a transaction\)/, "<= 200 ns above empty block, 0 allocs",
     lambda do |row, rows|
       empty = rows.find { |r| r.name == row.name.sub(/^.*(\[\w+\])$/, 'empty block \1') }
       empty && row.value - empty.value <= 200 && row.allocs.to_f.zero?
     end],
    [/^Appsignal\.monitor, 3 events/, "<= 2000 ns", ->(row, _) { row.value <= 2000 }],
    [/^(Rack|Sinatra) hello world.*throughput kept/, ">= 97 %", ->(row, _) { row.value >= 97 }],
    [/^Rails.*throughput kept/, ">= 99 %", ->(row, _) { row.value >= 99 }],
    [/worker RSS/, "<= 5 MB added", ->(row, _) { row.value - row.baseline_value <= 5 }],
    [/^agent decode \+ aggregate/, ">= 5 M events/s/core", ->(row, _) { 1000 / row.value >= 5 }],
    [/^agent ingest/, ">= 5 M events/s/core", ->(row, _) { row.value >= 5 }],
    [/^agent RSS/, "<= 20 MB", ->(row, _) { row.value <= 20 }]
  ].freeze

  def self.parse(section, line)
    fields = line.chomp.split("\t", -1)
    return nil if fields.length < 7

    if fields[0] == "row" # the Rust harnesses: no allocation column
      fields = fields[0..6] + [""] + [fields[7].to_s]
    end
    Row.new(section: section, name: fields[1], value: Float(fields[2]), unit: fields[3], baseline: fields[4],
            baseline_value: Float(fields[5]), ratio: Float(fields[6]), allocs: fields[7].to_s, note: fields[8].to_s)
  rescue ArgumentError
    nil
  end

  def self.machine
    cpu = File.read("/proc/cpuinfo")[/^model name\s*:\s*(.+)$/, 1] rescue "unknown CPU" # rubocop:disable Style/RescueModifier
    load = File.read("/proc/loadavg").split.first(3).join(" ") rescue "?" # rubocop:disable Style/RescueModifier
    "#{Etc.nprocessors} cores (#{cpu}), load average #{load} at the end, #{RUBY_DESCRIPTION}"
  end

  def initialize(rows)
    @rows = rows
  end

  def target_for(row)
    _, text, check = TARGETS.find { |pattern, _, _| pattern.match?(row.name) }
    return ["", ""] unless text

    [text, check.call(row, @rows) ? "met" : "MISSED"]
  end

  def cells(row)
    target, verdict = target_for(row)
    [row.section, row.name, number(row.value), row.unit, row.baseline, number(row.baseline_value),
     row.baseline_value.to_f.abs < 0.05 ? "-" : format("%.2fx", row.ratio), row.allocs, target, verdict, row.note]
  end

  HEADER = ["section", "benchmark", "figure", "unit", "baseline (same run)", "baseline", "ratio", "allocs",
            "target", "", "notes"].freeze

  def to_text
    table = [HEADER] + @rows.map { |row| cells(row) }
    widths = HEADER.each_index.map { |i| table.map { |r| r[i].to_s.length }.max }
    table.map do |r|
      r.each_with_index.map { |cell, i| [2, 5].include?(i) ? cell.to_s.rjust(widths[i]) : cell.to_s.ljust(widths[i]) }
       .join("  ").rstrip
    end.join("\n")
  end

  def to_markdown
    lines = ["| #{HEADER.join(" | ")} |", "|#{HEADER.map { "---" }.join("|")}|"]
    lines.concat(@rows.map { |row| "| #{cells(row).map { |c| c.to_s.gsub("|", "\\|") }.join(" | ")} |" })
    "#{lines.join("\n")}\n"
  end

  private

  def number(value)
    return "n/a" unless value.finite?

    value.abs >= 100 ? format("%.0f", value) : format("%.2f", value)
  end
end
