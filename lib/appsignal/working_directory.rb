# frozen_string_literal: true

require "fileutils"

module Appsignal
  # Where the agent keeps its socket, lock, spool and fallback log. The same rules
  # as the agent's: configured path, else Capistrano's shared/, else Heroku's
  # /app/tmp, else /tmp/appsignal.
  module WorkingDirectory
    DEFAULT = "/tmp/appsignal"
    HEROKU = "/app/tmp/appsignal"

    module_function

    def resolve(configured:, root_path:, env: ENV)
      return File.expand_path(configured) if configured && !configured.empty?

      capistrano_shared = capistrano_shared_dir(root_path)
      return File.join(capistrano_shared, "appsignal") if capistrano_shared
      return HEROKU if env["DYNO"]

      DEFAULT
    end

    # `/srv/app/releases/20240101` with `/srv/app/shared` beside it.
    def capistrano_shared_dir(root_path)
      path = File.expand_path(root_path.to_s)
      return unless File.basename(File.dirname(path)) == "releases"

      shared = File.expand_path("../../shared", path)
      File.directory?(shared) ? shared : nil
    end

    # Creates the directory with the configured permissions. Returns an error
    # message naming what to change, or nil when it is usable.
    def prepare(path, world_accessible:)
      mode = world_accessible ? 0o777 : 0o755
      unless File.directory?(path)
        FileUtils.mkdir_p(path, mode: mode)
        File.chmod(mode, path) # mkdir's mode is cut by the umask
      end
      File.writable?(path) ? nil : "working directory #{path} is not writable by this user"
    rescue SystemCallError => e
      "cannot create the working directory #{path} (#{e.message}); " \
        "set working_directory_path (APPSIGNAL_WORKING_DIRECTORY_PATH) to a writable directory"
    end
  end
end
