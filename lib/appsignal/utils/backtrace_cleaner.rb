# frozen_string_literal: true

module Appsignal
  module Utils
    # Backtrace lines as they are sent: app lines relative to the app root, gem
    # lines as `[gem] name-version/path`, so that the same error from different
    # hosts and deploys groups together and no home directory leaks.
    module BacktraceCleaner
      GEM_PATH_PATTERN = %r{/gems/(?<gem>[^/]+-[0-9][^/]*)/(?<rest>.*)\z}

      module_function

      def clean(lines, root_path)
        return [] unless lines

        root = root_path.to_s.empty? ? nil : File.join(root_path.to_s, "")
        lines.map { |line| clean_line(line.to_s, root) }
      end

      def clean_line(line, root)
        return line.delete_prefix(root) if root && line.start_with?(root)

        match = GEM_PATH_PATTERN.match(line)
        match ? "[gem] #{match[:gem]}/#{match[:rest]}" : line
      end
    end
  end
end
