"""Names used by the synthetic district (one place for every list of names)."""

from __future__ import annotations

__all__ = [
    "COMMUNITY_NAMES",
    "EW_STREETS",
    "GAZETTEER_MISSES",
    "NS_STREETS",
    "RIVER_STREETS",
    "SUBDISTRICT_NAMES",
]

# East-west streets, south to north.
EW_STREETS = (
    "淮河路",
    "黄河路",
    "长江路",
    "湘江路",
    "珠江路",
    "漓江路",
    "海河路",
    "闽江路",
    "赣江路",
    "汉江路",
    "松花江路",
    "渤海路",
    "黎阳路",
)

# North-south streets, west to east.
NS_STREETS = (
    "太行路",
    "华山路",
    "泰山路",
    "嵩山路",
    "衡山路",
    "天山路",
    "九州路",
    "兴鹤大街",
    "华夏南路",
    "朝歌路",
    "黄山路",
    "庐山路",
    "鹤煤大道",
)

# Curved streets following the Qi river (淇河) through the district.
RIVER_STREETS = ("淇河路", "淇滨大道")

# Sub-districts (街道), row-major from the south-west; each gets a 3-digit code 001...
SUBDISTRICT_NAMES = (
    "金山街道",
    "九州路街道",
    "黎阳路街道",
    "长江路街道",
    "渤海路街道",
    "大赉店街道",
)

# Communities (社区): 4 per sub-district, drawn in order.
COMMUNITY_NAMES = (
    "鹤翔社区",
    "桂鹤社区",
    "兴鹤社区",
    "淇水社区",
    "朝阳社区",
    "东杨社区",
    "新华社区",
    "湘江社区",
    "华夏社区",
    "天山社区",
    "福源社区",
    "钜桥社区",
    "太行社区",
    "金山社区",
    "嵩山社区",
    "海河社区",
    "迎宾社区",
    "金桥社区",
    "黎阳社区",
    "九州社区",
    "闽江社区",
    "泰山社区",
    "大赉社区",
    "滨河社区",
)

# Plausible addresses that are NOT in the gazetteer (for unknown-address bad records).
GAZETTEER_MISSES = ("幸福大街88号", "人民路3号", "解放北路116号", "建设路9号", "中山路2001号")
