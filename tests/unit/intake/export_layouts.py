"""Header layouts of real 311 exports (API field names and web-download display names),
written out here as the cities publish them, with a row builder: test fixtures never hold
downloaded data, only rows we make up in each export's own column layout."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LAYOUTS", "Layout", "write_export"]


@dataclass(frozen=True)
class Layout:
    city: str  # the packaged mapping it reads with (streams/data/cities/<city>)
    variant: str  # "api" or "web"
    header: tuple[str, ...]
    # logical name -> this layout's column, for the row builder
    fields: dict[str, str]
    time_format: str  # how this variant writes a local time (strftime)


def _split(header: str) -> list[str]:
    return header.split(",")


_NYC_API = _split(
    "unique_key,created_date,closed_date,agency,agency_name,complaint_type,descriptor,"
    "location_type,incident_zip,incident_address,street_name,cross_street_1,cross_street_2,"
    "intersection_street_1,intersection_street_2,address_type,city,landmark,facility_type,"
    "status,due_date,resolution_description,resolution_action_updated_date,community_board,"
    "bbl,borough,x_coordinate_state_plane,y_coordinate_state_plane,open_data_channel_type,"
    "park_facility_name,park_borough,vehicle_type,taxi_company_borough,taxi_pick_up_location,"
    "bridge_highway_name,bridge_highway_direction,road_ramp,bridge_highway_segment,latitude,"
    "longitude,location"
)
_NYC_WEB = _split(
    "Unique Key,Created Date,Closed Date,Agency,Agency Name,Complaint Type,Descriptor,"
    "Location Type,Incident Zip,Incident Address,Street Name,Cross Street 1,Cross Street 2,"
    "Intersection Street 1,Intersection Street 2,Address Type,City,Landmark,Facility Type,"
    "Status,Due Date,Resolution Description,Resolution Action Updated Date,Community Board,"
    "BBL,Borough,X Coordinate (State Plane),Y Coordinate (State Plane),Open Data Channel Type,"
    "Park Facility Name,Park Borough,Vehicle Type,Taxi Company Borough,Taxi Pick Up Location,"
    "Bridge Highway Name,Bridge Highway Direction,Road Ramp,Bridge Highway Segment,Latitude,"
    "Longitude,Location"
)
_CHICAGO_API = _split(
    "sr_number,sr_type,sr_short_code,created_department,owner_department,status,origin,"
    "created_date,last_modified_date,closed_date,street_address,city,state,zip_code,"
    "street_number,street_direction,street_name,street_type,duplicate,legacy_record,"
    "legacy_sr_number,parent_sr_number,community_area,ward,electrical_district,"
    "electricity_grid,police_sector,police_district,police_beat,precinct,"
    "sanitation_division_days,created_hour,created_day_of_week,created_month,x_coordinate,"
    "y_coordinate,latitude,longitude,location"
)
_BOSTON_API = _split(
    "case_enquiry_id,open_dt,target_dt,closed_dt,ontime,case_status,closure_reason,"
    "case_title,subject,reason,type,queue,department,submittedphoto,closedphoto,location,"
    "fire_district,pwd_district,city_council_district,police_district,neighborhood,"
    "neighborhood_services_district,ward,precinct,location_street_name,location_zipcode,"
    "latitude,longitude,geom_4326,source"
)
_BALTIMORE_WEB = _split(
    "SRRecordID,ServiceRequestNum,SRType,MethodReceived,CreatedDate,SRStatus,StatusDate,"
    "DueDate,CloseDate,Agency,LastActivity,LastActivityDate,Outcome,Address,ZipCode,"
    "Neighborhood,CouncilDistrict,PoliceDistrict,PolicePost,Latitude,Longitude,GeoLocation"
)
_BALTIMORE_API = [c.lower() for c in _BALTIMORE_WEB]  # the Socrata-era field names

_NYC = ("unique_key", "created_date", "complaint_type", "latitude", "longitude", "status")
_CHICAGO = ("sr_number", "created_date", "sr_type", "latitude", "longitude", "status")
_BOSTON = ("case_enquiry_id", "open_dt", "type", "latitude", "longitude", "case_status")
_BALTIMORE = ("servicerequestnum", "createddate", "srtype", "latitude", "longitude", "srstatus")
_LOGICAL = ("id", "time", "type", "lat", "lon", "status")


def _fields(header: list[str], api_names: tuple[str, ...]) -> dict[str, str]:
    """Logical name -> the column of ``header`` that reads as ``api_names``' counterpart."""
    key = {h.lower().replace(" ", "_"): h for h in header}
    return {name: key[api] for name, api in zip(_LOGICAL, api_names, strict=True)}


_US = "%m/%d/%Y %I:%M:%S %p"
LAYOUTS: tuple[Layout, ...] = (
    Layout("nyc", "api", tuple(_NYC_API), _fields(_NYC_API, _NYC), "%Y-%m-%dT%H:%M:%S.000"),
    Layout("nyc", "web", tuple(_NYC_WEB), _fields(_NYC_WEB, _NYC), _US),
    Layout(
        "chicago",
        "api",
        tuple(_CHICAGO_API),
        _fields(_CHICAGO_API, _CHICAGO),
        "%Y-%m-%dT%H:%M:%S.000",
    ),
    Layout(
        "chicago",
        "web",
        tuple(c.upper() for c in _CHICAGO_API),
        _fields([c.upper() for c in _CHICAGO_API], _CHICAGO),
        _US,
    ),
    Layout("boston", "api", tuple(_BOSTON_API), _fields(_BOSTON_API, _BOSTON), "%Y-%m-%d %H:%M:%S"),
    Layout(
        "boston",
        "web",
        tuple(c.upper() for c in _BOSTON_API),
        _fields([c.upper() for c in _BOSTON_API], _BOSTON),
        "%Y-%m-%d %H:%M:%S",
    ),
    Layout(
        "baltimore",
        "api",
        tuple(_BALTIMORE_API),
        _fields(_BALTIMORE_API, _BALTIMORE),
        "%Y-%m-%dT%H:%M:%S.000",
    ),
    Layout(
        "baltimore",
        "web",
        tuple(_BALTIMORE_WEB),
        _fields(_BALTIMORE_WEB, _BALTIMORE),
        "%Y/%m/%d %H:%M:%S+00",  # ArcGIS hub downloads: UTC
    ),
)


def write_export(path: Path, layout: Layout, rows: list[dict[str, str]], bom: bool = False) -> Path:
    """A CSV in ``layout``: each row gives logical fields (id, time, type, lat, lon, status);
    every other column is left empty, as exports leave unused cells."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(layout.header)
    for row in rows:
        by_column = {layout.fields[k]: v for k, v in row.items()}
        writer.writerow([by_column.get(c, "") for c in layout.header])
    path.write_text(("\ufeff" if bom else "") + buf.getvalue(), encoding="utf-8")
    return path
