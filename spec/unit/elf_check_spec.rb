# frozen_string_literal: true

require "spec_helper"
require "tmpdir"

RSpec.describe Appsignal::ExtensionLoader::ElfCheck do
  # Any ELF file on the machine serves: the ruby binary running this suite.
  let(:elf) { File.binread(File.realpath(RbConfig.ruby)) }

  def problem_with(bytes)
    Dir.mktmpdir do |dir|
      path = File.join(dir, "appsignal_extension.so")
      File.binwrite(path, bytes)
      described_class.problem(path)
    end
  end

  it "accepts a whole ELF file" do
    expect(problem_with(elf)).to be_nil
  end

  it "names a truncated copy and what its headers need" do
    expect(problem_with(elf.byteslice(0, elf.bytesize - 1)))
      .to match(/is truncated \(#{elf.bytesize - 1} bytes, its ELF headers describe #{elf.bytesize}\): reinstall/)
    expect(problem_with(elf.byteslice(0, 4096))).to include("is truncated (4096 bytes")
  end

  it "refuses what is not ELF at all" do
    expect(problem_with("#!/bin/sh\n")).to include("is not an ELF shared object")
    expect(problem_with("")).to include("is not an ELF shared object")
  end
end
