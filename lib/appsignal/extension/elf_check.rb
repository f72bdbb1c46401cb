# frozen_string_literal: true

module Appsignal
  module ExtensionLoader
    # glibc's dlopen maps an ELF file's segments as its headers describe them; when
    # the file is shorter (an interrupted copy, a full disk during install), touching
    # the missing pages kills the process with SIGBUS inside `require`. Reading the
    # headers first turns that into a load failure AppSignal can log and survive.
    module ElfCheck
      MAGIC = "\x7FELF".b
      # 64-bit little-endian ELF header fields: e_phoff, e_shoff, then the sizes and
      # counts of program and section headers.
      HEADER_LAYOUT = "@32Q<Q<@54S<S<S<S<"
      HEADER_BYTES = 64
      PROGRAM_HEADER_FIELDS = "@8Q<@32Q<" # p_offset, p_filesz

      # nil when the file is at least as long as its headers say; else why not.
      def self.problem(path)
        File.open(path, "rb") { |file| problem_in(file, file.size) }
      rescue SystemCallError, IOError => e
        "cannot read #{path}: #{e.message}"
      end

      def self.problem_in(file, size)
        header = file.read(HEADER_BYTES)
        return "#{file.path} is not an ELF shared object" unless header&.bytesize == HEADER_BYTES
        return "#{file.path} is not an ELF shared object" unless header.start_with?(MAGIC)
        # Only 64-bit little-endian builds exist for this gem; anything else fails in dlopen cleanly.
        return nil unless header.getbyte(4) == 2 && header.getbyte(5) == 1

        needed = needed_bytes(file, header)
        return nil if needed <= size

        "#{file.path} is truncated (#{size} bytes, its ELF headers describe #{needed}): reinstall the gem"
      end

      def self.needed_bytes(file, header)
        phoff, shoff, phentsize, phnum, shentsize, shnum = header.unpack(HEADER_LAYOUT)
        needed = [shoff + (shentsize * shnum), phoff + (phentsize * phnum)].max
        file.seek(phoff)
        table = file.read(phentsize * phnum) || ""
        phnum.times do |index|
          entry = table.byteslice(index * phentsize, phentsize)
          break unless entry && entry.bytesize >= 40

          offset, filesz = entry.unpack(PROGRAM_HEADER_FIELDS)
          needed = [needed, offset + filesz].max
        end
        needed
      end
    end
  end
end
