"""Network namespaces on an impaired userspace switch, for the network drill (issue 8). See lab.py."""

from netlab.errors import CommandFailed as CommandFailed
from netlab.errors import NetlabError as NetlabError
from netlab.errors import SwitchError as SwitchError
from netlab.lab import Host as Host
from netlab.lab import Impairment as Impairment
from netlab.lab import NetLab as NetLab
from netlab.lab import PingResult as PingResult
from netlab.lab import PortStats as PortStats
from netlab.lab import SwitchStats as SwitchStats
from netlab.system import why_not_available as why_not_available
